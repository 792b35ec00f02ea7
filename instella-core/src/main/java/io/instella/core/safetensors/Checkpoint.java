package io.instella.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * All tensors of a Hugging Face checkpoint: a single {@code model.safetensors}, or shards listed in
 * {@code model.safetensors.index.json}. Tensors are memory-mapped views; closing the checkpoint unmaps them.
 */
public final class Checkpoint implements AutoCloseable {
    private static final ObjectMapper INDEX_JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private final Path location;
    private final List<SafeTensorsFile> files;
    private final Map<String, SafeTensorsFile> byName;
    /** Tensors that replace (or add to) the files' ones, e.g. trained float32 values; empty for a plain checkpoint. */
    private final Map<String, Tensor> overrides;
    /** False for a view made by {@link #withOverrides}: the checkpoint it came from owns (and closes) the files. */
    private final boolean ownsFiles;

    private Checkpoint(Path location, List<SafeTensorsFile> files, Map<String, SafeTensorsFile> byName) {
        this(location, files, byName, Map.of(), true);
    }

    private Checkpoint(Path location, List<SafeTensorsFile> files, Map<String, SafeTensorsFile> byName,
                       Map<String, Tensor> overrides, boolean ownsFiles) {
        this.location = location;
        this.files = files;
        this.byName = byName;
        this.overrides = overrides;
        this.ownsFiles = ownsFiles;
    }

    /**
     * A view of this checkpoint in which the given tensors (by name) replace the stored ones or are added: how a
     * trainer hands its float32 master weights, or a LoRA-merged weight, to the model parts without writing a file.
     * The view shares this checkpoint's mapped files; closing the view does not unmap them (close this one).
     */
    public Checkpoint withOverrides(Map<String, Tensor> replacements) {
        Map<String, Tensor> merged = new LinkedHashMap<>(overrides);
        merged.putAll(replacements);
        return new Checkpoint(location, files, byName, Map.copyOf(merged), false);
    }

    /** Opens a checkpoint directory (single file or sharded index) or one .safetensors file. */
    public static Checkpoint open(Path dirOrFile) {
        if (Files.isRegularFile(dirOrFile)) {
            if (dirOrFile.getFileName().toString().endsWith(".index.json")) return openIndex(dirOrFile);
            return ofFiles(dirOrFile, List.of(dirOrFile));
        }
        if (!Files.isDirectory(dirOrFile)) {
            throw new SafeTensorsException(dirOrFile + ": no such checkpoint file or directory");
        }
        Path index = dirOrFile.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) return openIndex(index);
        Path single = dirOrFile.resolve("model.safetensors");
        if (Files.isRegularFile(single)) return ofFiles(dirOrFile, List.of(single));
        throw new SafeTensorsException(dirOrFile + ": no model.safetensors or model.safetensors.index.json "
                + "(only safetensors checkpoints are supported; convert .bin/.pt files with safetensors first)");
    }

    private static Checkpoint openIndex(Path index) {
        JsonNode root;
        try {
            root = INDEX_JSON.readTree(index.toFile());
        } catch (IOException e) {
            throw new SafeTensorsException(index + ": not a valid index file (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
        JsonNode map = root == null || !root.isObject() ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new SafeTensorsException(index + ": has no weight_map object");
        Map<String, String> weightMap = new LinkedHashMap<>();
        map.fields().forEachRemaining(e -> {
            if (!e.getValue().isTextual() || e.getValue().textValue().isEmpty()) {
                throw new SafeTensorsException(index + ": weight_map entry '" + e.getKey() + "' is " + e.getValue()
                        + ", expected the name of a shard file");
            }
            weightMap.put(e.getKey(), e.getValue().textValue());
        });
        Set<String> shardNames = new TreeSet<>(weightMap.values());
        List<Path> shards = new ArrayList<>();
        for (String s : shardNames) {
            Path p = index.resolveSibling(s).normalize();
            if (!p.startsWith(index.getParent().normalize())) throw new SafeTensorsException(index + ": shard path escapes the directory: " + s);
            if (!Files.isRegularFile(p)) throw new SafeTensorsException(index + ": shard " + s + " is missing (incomplete download?)");
            shards.add(p);
        }
        Checkpoint cp = ofFiles(index.getParent(), shards);
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            SafeTensorsFile f = cp.byName.get(e.getKey());
            if (f == null || !f.path().getFileName().toString().equals(Path.of(e.getValue()).getFileName().toString())) {
                cp.close();
                throw new SafeTensorsException(index + ": tensor '" + e.getKey() + "' is listed in " + e.getValue() + " but not found there");
            }
        }
        return cp;
    }

    private static Checkpoint ofFiles(Path location, List<Path> paths) {
        List<SafeTensorsFile> files = new ArrayList<>();
        Map<String, SafeTensorsFile> byName = new LinkedHashMap<>();
        try {
            for (Path p : paths) {
                SafeTensorsFile f = SafeTensorsFile.open(p);
                files.add(f);
                for (String n : f.entries().keySet()) {
                    SafeTensorsFile prev = byName.putIfAbsent(n, f);
                    if (prev != null) throw new SafeTensorsException("tensor '" + n + "' appears in both " + prev.path() + " and " + p);
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafeTensorsFile::close);
            throw e;
        }
        return new Checkpoint(location, files, byName);
    }

    public Path location() { return location; }

    public Set<String> names() {
        if (overrides.isEmpty()) return byName.keySet();
        Set<String> all = new java.util.LinkedHashSet<>(byName.keySet());
        all.addAll(overrides.keySet());
        return java.util.Collections.unmodifiableSet(all);
    }

    public boolean contains(String name) { return byName.containsKey(name) || overrides.containsKey(name); }

    public Map<String, String> metadata() {
        Map<String, String> m = new LinkedHashMap<>();
        files.forEach(f -> m.putAll(f.metadata()));
        return m;
    }

    public Tensor get(String name) {
        Tensor replaced = overrides.get(name);
        if (replaced != null) return replaced;
        SafeTensorsFile f = byName.get(name);
        if (f == null) throw new SafeTensorsException(location + ": missing tensor '" + name + "'");
        return f.tensor(name);
    }

    /** Gets a tensor and checks its shape (and that it is floating point). */
    public Tensor get(String name, long... shape) {
        Tensor t = get(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new SafeTensorsException(location + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + ", the config implies " + Arrays.toString(shape) + " (config.json and weights disagree)");
        }
        if (!t.dtype().isWeightType()) {
            throw new SafeTensorsException(location + ": tensor '" + name + "' is " + t.dtype() + ", expected a float type");
        }
        return t;
    }

    /**
     * Checks the tensor names against what a model needs: lists every missing and every unexpected name at once.
     * {@code ignoredPrefixes} are names that may be present without being used (e.g. CLIP's post_layernorm).
     */
    public void checkNames(Collection<String> required, Collection<String> ignoredPrefixes) {
        List<String> missing = required.stream().filter(n -> !contains(n)).sorted().toList();
        Set<String> req = Set.copyOf(required);
        List<String> unexpected = names().stream()
                .filter(n -> !req.contains(n) && ignoredPrefixes.stream().noneMatch(n::startsWith)).sorted().toList();
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            StringBuilder sb = new StringBuilder(location + ": checkpoint does not match the config.");
            if (!missing.isEmpty()) sb.append("\n  missing tensors (").append(missing.size()).append("): ").append(summarize(missing));
            if (!unexpected.isEmpty()) sb.append("\n  unexpected tensors (").append(unexpected.size()).append("): ").append(summarize(unexpected));
            sb.append("\n  Check that config.json belongs to these weights.");
            throw new SafeTensorsException(sb.toString());
        }
    }

    private static String summarize(List<String> names) {
        return names.size() <= 12 ? String.join(", ", names) : String.join(", ", names.subList(0, 12)) + ", …";
    }

    public DType dominantDType() {
        Map<DType, Long> bytes = new LinkedHashMap<>();
        for (SafeTensorsFile f : files) {
            for (SafeTensorsFile.Entry e : f.entries().values()) bytes.merge(e.dtype(), e.end() - e.begin(), Long::sum);
        }
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(DType.F32);
    }

    public long totalBytes() {
        return files.stream().flatMap(f -> f.entries().values().stream()).mapToLong(e -> e.end() - e.begin()).sum();
    }

    @Override
    public void close() {
        if (ownsFiles) files.forEach(SafeTensorsFile::close);
    }
}
