package io.instella.model.source;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.hub.DownloadListener;
import io.instella.hub.HubClient;
import io.instella.hub.HubException;
import io.instella.hub.RepoId;
import io.instella.model.InstellaException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Where a model comes from: a local directory (Hugging Face layout) or a Hub repository id
 * ({@code org/name[@revision]}) fetched into the standard Hugging Face cache. An existing local path always
 * wins over a repo id of the same spelling.
 *
 * <p>Only the files the engine reads are downloaded (see {@link Need}): configs, tokenizer files and the
 * safetensors weights (one file, or the index and exactly the shards it names). The CLIP tower named by
 * {@code mm_vision_tower} is never downloaded: its weights are part of the Instella checkpoint and its config
 * comes from the checkpoint folder, the cache, or the built-in table of known towers.
 */
public final class ModelSource {

    /** What the caller is about to read, and so which files a repo id needs. */
    public enum Need {
        /** Everything to run the model: configs, tokenizer, weights. */
        MODEL,
        /** Configs only (what {@code instella info} reads before the weights are there). */
        CONFIG,
        /** The tokenizer files only (tokenize / detokenize). */
        TOKENIZER
    }

    /** Small config files read by the engine, when the repository has them. */
    public static final List<String> CONFIG_FILES = List.of("config.json", "generation_config.json",
            "preprocessor_config.json", "chat_template.json", "model.safetensors.index.json",
            // Checkpoints written by `instella init-random` carry their (small) tower config beside the weights.
            "vision_tower/config.json", "vision_tower/preprocessor_config.json");
    public static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json");
    public static final String SINGLE_WEIGHTS = "model.safetensors";
    public static final String WEIGHTS_INDEX = "model.safetensors.index.json";

    private final String text;
    private final Path local;
    private final RepoId repo;

    private ModelSource(String text, Path local, RepoId repo) {
        this.text = text;
        this.local = local;
        this.repo = repo;
    }

    /** A local directory (or file) that exists. */
    public static ModelSource local(Path path) {
        return new ModelSource(path.toString(), path, null);
    }

    /**
     * Parses what a user typed after {@code --model}: an existing local path, else a Hub repo id.
     *
     * @throws InstellaException when the text is neither, with what to do
     */
    public static ModelSource parse(String text) {
        if (text == null || text.isBlank()) {
            throw new InstellaException("no model given: pass a model directory or a Hugging Face repo id such as amd/Instella-VL-1B");
        }
        String t = text.strip();
        Path path = Path.of(expandHome(t));
        if (Files.exists(path)) return new ModelSource(t, path, null);
        if (looksLikePath(t)) {
            String what = t.endsWith(".json") || t.endsWith(".safetensors") ? "no such file" : "no such model directory";
            throw new InstellaException(t + ": " + what + " (a Hugging Face repo id looks like org/name, e.g. amd/Instella-VL-1B)");
        }
        if (RepoId.looksLikeRepoId(t)) {
            try {
                return new ModelSource(t, null, RepoId.parse(t));
            } catch (IllegalArgumentException e) {
                throw new InstellaException(e.getMessage());
            }
        }
        throw new InstellaException("'" + t + "' is neither a model directory nor a Hugging Face repo id"
                + " (org/name or org/name@revision, e.g. amd/Instella-VL-1B)");
    }

    private static String expandHome(String t) {
        if (t.equals("~") || t.startsWith("~/")) return System.getProperty("user.home") + t.substring(1);
        return t;
    }

    /** Text that can only be a file system path: a repo id has one '/' and no leading '.', '/' or '~'. */
    private static boolean looksLikePath(String t) {
        if (t.startsWith("/") || t.startsWith(".") || t.startsWith("~") || t.contains("\\")) return true;
        String id = t.contains("@") ? t.substring(0, t.indexOf('@')) : t;
        long slashes = id.chars().filter(c -> c == '/').count();
        return slashes > 1 || t.endsWith(".json") || t.endsWith(".safetensors") || t.endsWith("/");
    }

    public boolean isLocal() { return local != null; }

    /** The local path, or null for a repo id. */
    public Path localPath() { return local; }

    /** The repo id, or null for a local path. */
    public RepoId repo() { return repo; }

    /** What the user typed. */
    public String text() { return text; }

    @Override
    public String toString() { return text; }

    /** The files a repo needs for {@code need} before the weight shards are known. */
    public static List<String> patterns(Need need) {
        List<String> p = new ArrayList<>();
        switch (need) {
            case MODEL -> {
                p.addAll(CONFIG_FILES);
                p.addAll(TOKENIZER_FILES);
                p.add(SINGLE_WEIGHTS);
            }
            case CONFIG -> p.addAll(CONFIG_FILES);
            case TOKENIZER -> p.addAll(TOKENIZER_FILES);
        }
        return List.copyOf(p);
    }

    /**
     * The local directory holding what {@code need} asks for, downloading missing files of a repo id into the
     * Hugging Face cache first (a repo that is fully cached costs one listing request; none when offline).
     *
     * @param hub      the client to use for a repo id (ignored for a local path)
     * @param listener download progress; null for none
     */
    public Path resolve(Need need, HubClient hub, DownloadListener listener) {
        if (local != null) return local;
        try {
            Path dir = hub.snapshot(repo, null, patterns(need), listener);
            if (need == Need.MODEL) {
                List<String> shards = missingShards(dir);
                if (!shards.isEmpty()) {
                    // Pin the second listing to the commit of the first, so config and shards always match.
                    dir = hub.snapshot(repo, dir.getFileName().toString(), shards, listener);
                }
            }
            checkComplete(dir, need, hub.isOffline());
            return dir;
        } catch (HubException e) {
            throw new InstellaException("cannot get " + repo + " from the Hugging Face Hub: " + e.getMessage(), e);
        }
    }

    /** {@link #resolve} with a client configured from the environment (HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE, ...). */
    public Path resolve(Need need, DownloadListener listener) {
        if (local != null) return local;
        try (HubClient hub = client()) {
            return resolve(need, hub, listener);
        }
    }

    /** A Hub client from the environment; a malformed variable becomes a clear error. */
    public static HubClient client() {
        try {
            return HubClient.fromEnvironment();
        } catch (IllegalArgumentException e) {
            throw new InstellaException(e.getMessage(), e);
        }
    }

    /** The cached snapshot of a repo id that already has what {@code need} asks for, without any network. */
    public Optional<Path> cached(Need need, HubClient hub) {
        if (local != null) return Optional.of(local);
        return hub.cachedSnapshot(repo, null).filter(dir -> {
            try {
                checkComplete(dir, need, false);
                return true;
            } catch (InstellaException e) {
                return false;
            }
        });
    }

    /** Shards named by the index that are not in the snapshot yet. */
    static List<String> missingShards(Path dir) {
        Path index = dir.resolve(WEIGHTS_INDEX);
        if (!Files.isRegularFile(index)) return List.of();
        List<String> missing = new ArrayList<>();
        for (String shard : shardNames(index)) {
            if (!Files.isRegularFile(dir.resolve(shard))) missing.add(shard);
        }
        return missing;
    }

    static Set<String> shardNames(Path index) {
        JsonNode map;
        try {
            JsonNode root = new ObjectMapper().readTree(index.toFile());
            map = root == null || !root.isObject() ? null : root.get("weight_map");
        } catch (IOException e) {
            throw new InstellaException(index + ": not a valid safetensors index ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("") + ")", e);
        }
        if (map == null || !map.isObject()) throw new InstellaException(index + ": has no weight_map object");
        Set<String> shards = new LinkedHashSet<>();
        for (Iterator<java.util.Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            var entry = it.next();
            if (!entry.getValue().isTextual()) {
                throw new InstellaException(index + ": weight_map entry '" + entry.getKey() + "' is " + entry.getValue()
                        + ", expected the name of a shard file");
            }
            String s = entry.getValue().textValue();
            if (s.isEmpty() || s.startsWith("/") || s.contains("..")) {
                throw new InstellaException(index + ": weight_map names an unsafe shard path '" + s + "'");
            }
            shards.add(s);
        }
        return shards;
    }

    private void checkComplete(Path dir, Need need, boolean offline) {
        List<String> missing = new ArrayList<>();
        if (need != Need.TOKENIZER && !Files.isRegularFile(dir.resolve("config.json"))) missing.add("config.json");
        if (need != Need.CONFIG && !Files.isRegularFile(dir.resolve("tokenizer.json"))) missing.add("tokenizer.json");
        if (need == Need.MODEL) {
            boolean single = Files.isRegularFile(dir.resolve(SINGLE_WEIGHTS));
            boolean index = Files.isRegularFile(dir.resolve(WEIGHTS_INDEX));
            if (!single && !index) missing.add(SINGLE_WEIGHTS + " (or " + WEIGHTS_INDEX + " and its shards)");
            if (index) missing.addAll(missingShards(dir));
        }
        if (missing.isEmpty()) return;
        String hint = offline
                ? "the cached copy is incomplete; run once without HF_HUB_OFFLINE to finish the download"
                : "instella reads Hugging Face checkpoints with config.json, tokenizer.json and safetensors weights";
        throw new InstellaException(repo + " (" + dir + ") has no " + String.join(", ", missing) + ": " + hint);
    }
}
