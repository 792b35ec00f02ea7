package io.instella.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The trained model as a complete Hugging Face model directory that this engine and HF Python load as they are:
 * {@code model.safetensors} with every tensor under its original name (frozen ones streamed from the base
 * checkpoint as stored, never held on the heap; trained ones from the float32 masters in the save dtype), and
 * the base directory's other files (config.json, generation_config.json, tokenizer files,
 * preprocessor_config.json, vision_tower/config.json ...) copied, config.json optionally replaced.
 * <p>
 * Written into {@code .tmp-final-RANDOM/} inside the output directory, fsynced, then each file moved into place
 * (weights first, config.json last); a stale {@code model.safetensors.index.json} in the output directory is
 * removed so the new single file is the one loaded.
 */
public final class FinalModelWriter {
    /** Weight files of the base directory that are not copied (the new model.safetensors replaces them). */
    private static final List<String> WEIGHT_SUFFIXES = List.of(".safetensors", ".safetensors.index.json", ".bin",
            ".bin.index.json", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack");
    /** Depth of the base directory copied: the top level and one folder below (vision_tower/). */
    private static final int COPY_DEPTH = 2;

    private FinalModelWriter() {}

    /** As {@link #write(Path, Path, Checkpoint, ParameterSet, DType, String, ExtraFilesWriter)} with the base directory's own tensors. */
    public static void write(Path outputDir, Path baseModelDir, ParameterSet trained, DType saveDType, String configJson) throws IOException {
        try (Checkpoint base = Checkpoint.open(baseModelDir)) {
            write(outputDir, baseModelDir, base, trained, saveDType, configJson, null);
        }
    }

    /**
     * @param outputDir     where the model goes (created; usually the run's --output-dir)
     * @param baseModelDir  the directory whose non-weight files are copied
     * @param baseTensors   every tensor of the model before training (may be a {@link Checkpoint#withOverrides} view,
     *                      e.g. OLMo + CLIP + a fresh projector); trained names not in it are added
     * @param trained       the trained parameters (their float32 values are saved)
     * @param saveDType     F32, BF16 or F16 for the trained tensors; null = each parameter's stored type
     * @param configJson    a replacement config.json (a JSON object), or null to copy the base one
     * @param extraFiles    more files to write into the directory before it is moved into place, or null
     */
    public static void write(Path outputDir, Path baseModelDir, Checkpoint baseTensors, ParameterSet trained, DType saveDType,
                             String configJson, ExtraFilesWriter extraFiles) throws IOException {
        Path out = outputDir.toAbsolutePath().normalize();
        Path base = baseModelDir.toAbsolutePath().normalize();
        if (!Files.isDirectory(base)) throw new CheckpointException(base + ": no such base model directory");
        Files.createDirectories(out);
        if (Files.isSameFile(out, base)) {
            throw new CheckpointException(out + " is the base model's directory: write the trained model to another --output-dir");
        }
        if (saveDType != null && saveDType != DType.F32 && saveDType != DType.BF16 && saveDType != DType.F16) {
            throw new IllegalArgumentException("save dtype must be f32, bf16 or f16, not " + saveDType);
        }
        if (configJson != null) checkConfig(configJson);

        Path tmp = out.resolve(CheckpointManager.TMP_PREFIX + "final-" + CheckpointFiles.randomSuffix());
        Files.createDirectory(tmp);
        try {
            writeWeights(tmp.resolve(CheckpointManager.MODEL_FILE), baseTensors, trained, saveDType);
            copyNonWeightFiles(base, tmp);
            if (configJson != null) Files.writeString(tmp.resolve("config.json"), configJson, StandardCharsets.UTF_8);
            if (extraFiles != null) extraFiles.writeInto(tmp);
            CheckpointFiles.fsyncTree(tmp);
            Files.deleteIfExists(out.resolve("model.safetensors.index.json"));
            List<Path> files;
            try (Stream<Path> s = Files.walk(tmp)) {
                files = s.filter(Files::isRegularFile).sorted((a, b) -> Integer.compare(rank(a), rank(b))).toList();
            }
            for (Path f : files) {
                Path dest = out.resolve(tmp.relativize(f).toString());
                Files.createDirectories(dest.getParent());
                Files.move(f, dest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
            CheckpointFiles.fsync(out);
        } finally {
            CheckpointFiles.deleteRecursively(tmp);
        }
    }

    /** Move order: weights first, config.json last (a reader that sees the new config sees the new weights). */
    private static int rank(Path f) {
        String n = f.getFileName().toString();
        return n.endsWith(".safetensors") ? 0 : n.equals("config.json") ? 2 : 1;
    }

    private static void checkConfig(String configJson) {
        try {
            JsonNode n = CheckpointFiles.JSON.readTree(configJson);
            if (n == null || !n.isObject()) throw new CheckpointException("the replacement config.json is not a JSON object");
        } catch (IOException e) {
            throw new CheckpointException("the replacement config.json is not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
    }

    private static void writeWeights(Path file, Checkpoint base, ParameterSet trained, DType saveDType) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        for (String name : base.names()) {
            Parameter p = trained.get(name);
            if (p != null) {
                Tensor stored = base.get(name);
                if (!Arrays.equals(stored.shape(), p.shape())) {
                    throw new CheckpointException("trained parameter " + name + " has shape " + Arrays.toString(p.shape())
                            + ", the base checkpoint's tensor " + Arrays.toString(stored.shape()));
                }
                addTrained(w, p, saveDType);
            } else {
                Tensor t = base.get(name);
                if (t.dtype().isQuantized()) {
                    throw new CheckpointException(name + " is stored quantized (" + t.dtype() + ") in the base checkpoint: "
                            + "train from the bf16/f32 checkpoint, not a quantized one");
                }
                // Streamed from the mapped file by the writer, one block at a time.
                w.addDeferred(name, t.dtype(), t.shape(), () -> base.get(name).data());
            }
        }
        for (Parameter p : trained) if (!base.contains(p.name())) addTrained(w, p, saveDType);
        w.write(file);
    }

    private static void addTrained(SafeTensorsWriter w, Parameter p, DType saveDType) {
        DType t = CheckpointManager.saveType(saveDType, p);
        w.addDeferred(p.name(), t, p.shape(), () -> CheckpointManager.encode(p.value(), t));
    }

    private static void copyNonWeightFiles(Path base, Path dest) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(base, COPY_DEPTH)) {
            files = s.filter(Files::isRegularFile).filter(f -> copied(base.relativize(f))).toList();
        }
        for (Path f : files) {
            Path target = dest.resolve(base.relativize(f).toString());
            Files.createDirectories(target.getParent());
            Files.copy(f, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static boolean copied(Path relative) {
        for (Path part : relative) {
            String s = part.toString();
            if (s.startsWith(".") || CheckpointManager.stepOf(part) >= 0) return false; // hidden, checkpoint-N/
        }
        String name = relative.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.equals(CheckpointManager.LOSS_CURVE_FILE)) return false;
        return WEIGHT_SUFFIXES.stream().noneMatch(name::endsWith);
    }
}
