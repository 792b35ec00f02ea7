package io.instella.eval.data;

import io.instella.eval.tasks.DatasetSpec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds the parquet shards of a Hugging Face dataset split in its published form, under a data root that is
 * either a Hugging Face hub cache ({@code datasets--org--name/snapshots/<rev>/...}, as the project's Hub client
 * and {@code huggingface_hub} lay it out) or a plain directory {@code <root>/<org>/<name>/...} holding a copy of
 * the dataset repository. Within the repository the README's {@code configs:} section (as {@code datasets} reads
 * it) decides; without one, the usual layouts {@code <config>/<split>-*.parquet} and {@code data/<split>-*.parquet}.
 */
public final class DatasetFiles {
    private DatasetFiles() {}

    /** The default data root: {@code $HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}. */
    public static Path defaultRoot() {
        String hubCache = System.getenv("HF_HUB_CACHE");
        if (hubCache != null && !hubCache.isBlank()) return Path.of(hubCache);
        String home = System.getenv("HF_HOME");
        if (home != null && !home.isBlank()) return Path.of(home, "hub");
        return Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub");
    }

    /** The dataset repository directory under {@code root}, or an exception telling where it was looked for. */
    public static Path repoDir(Path root, String repoId) {
        String[] parts = repoId.split("/", 2);
        List<Path> tried = new ArrayList<>();
        for (Path cacheRoot : List.of(root, root.resolve("hub"))) {
            Path cached = cacheRoot.resolve("datasets--" + repoId.replace("/", "--"));
            tried.add(cached);
            if (Files.isDirectory(cached.resolve("snapshots"))) return snapshot(cached);
        }
        Path plain = parts.length == 2 ? root.resolve(parts[0]).resolve(parts[1]) : root.resolve(repoId);
        tried.add(plain);
        if (Files.isDirectory(plain)) return plain;
        throw new DatasetNotFoundException("dataset " + repoId + " not found under " + root + " (looked for "
                + tried + "); download it with the project's Hub client (repo_type=dataset) or pass --data DIR");
    }

    private static Path snapshot(Path cachedRepo) {
        Path snapshots = cachedRepo.resolve("snapshots");
        try {
            Path ref = cachedRepo.resolve("refs").resolve("main");
            if (Files.isRegularFile(ref)) {
                Path s = snapshots.resolve(Files.readString(ref).strip());
                if (Files.isDirectory(s)) return s;
            }
            try (Stream<Path> list = Files.list(snapshots)) {
                List<Path> all = list.filter(Files::isDirectory).sorted().toList();
                if (all.size() == 1) return all.get(0);
                if (all.isEmpty()) throw new DatasetNotFoundException("no snapshot in " + snapshots);
                throw new DatasetNotFoundException("several snapshots in " + snapshots + " and no refs/main: " + all);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The parquet shards of a split, in the order {@code datasets} loads them (sorted paths). */
    public static List<Path> shards(Path root, DatasetSpec spec) {
        Path repo = repoDir(root, spec.path());
        List<Path> all = parquetFiles(repo);
        List<Path> fromReadme = fromReadmeConfigs(repo, all, spec);
        if (fromReadme != null && !fromReadme.isEmpty()) return fromReadme;
        List<Path> out = new ArrayList<>();
        for (Path p : all) {
            Path rel = repo.relativize(p);
            if (spec.name() != null && !hasComponent(rel, spec.name())) continue;
            if (matchesSplit(rel, spec.split())) out.add(p);
        }
        if (out.isEmpty() && spec.name() == null && all.size() == 1) out.add(all.get(0));
        if (out.isEmpty()) {
            throw new DatasetNotFoundException("no parquet shards for " + spec.path()
                    + (spec.name() == null ? "" : " config " + spec.name()) + " split " + spec.split() + " in " + repo
                    + " (found " + all.stream().map(p -> repo.relativize(p).toString()).toList() + ")");
        }
        return out;
    }

    private static List<Path> parquetFiles(Path repo) {
        try (Stream<Path> walk = Files.walk(repo, FileVisitOption.FOLLOW_LINKS)) {
            return walk.filter(p -> p.getFileName().toString().endsWith(".parquet") && Files.isRegularFile(p))
                    .sorted(Comparator.comparing(p -> repo.relativize(p).toString())).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + repo, e);
        }
    }

    private static boolean hasComponent(Path rel, String name) {
        for (Path c : rel) if (c.toString().equals(name)) return true;
        return false;
    }

    private static boolean matchesSplit(Path rel, String split) {
        String file = rel.getFileName().toString();
        if (file.startsWith(split + "-") || file.startsWith(split + ".") || file.startsWith(split + "_")) return true;
        for (int i = 0; i < rel.getNameCount() - 1; i++) if (rel.getName(i).toString().equals(split)) return true;
        return false;
    }

    /** The {@code configs:} entries of the README's YAML front matter; null when there are none. */
    private static List<Path> fromReadmeConfigs(Path repo, List<Path> all, DatasetSpec spec) {
        Path readme = repo.resolve("README.md");
        if (!Files.isRegularFile(readme)) return null;
        List<ReadmeConfigs.DataFiles> configs;
        try {
            configs = ReadmeConfigs.parse(Files.readString(readme));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + readme, e);
        }
        String config = spec.name();
        if (config == null) {
            // No config name: "default", or the only config the card declares (as load_dataset picks it).
            java.util.Set<String> names = new java.util.LinkedHashSet<>();
            configs.forEach(d -> names.add(d.config()));
            config = names.size() == 1 ? names.iterator().next() : "default";
        }
        List<String> patterns = new ArrayList<>();
        for (ReadmeConfigs.DataFiles d : configs) {
            if (d.config().equals(config) && d.split().equals(spec.split())) patterns.addAll(d.paths());
        }
        if (patterns.isEmpty()) return null;
        List<Path> out = new ArrayList<>();
        for (Path p : all) {
            String rel = repo.relativize(p).toString().replace('\\', '/');
            for (String pattern : patterns) {
                PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
                if (m.matches(Path.of(rel))) {
                    out.add(p);
                    break;
                }
            }
        }
        return out;
    }

    /** A dataset or split that is not on disk. */
    public static final class DatasetNotFoundException extends RuntimeException {
        public DatasetNotFoundException(String message) {
            super(message);
        }
    }
}
