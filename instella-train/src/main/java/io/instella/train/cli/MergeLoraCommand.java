package io.instella.train.cli;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.model.InstellaException;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraMerge;
import io.instella.model.source.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code instella train merge-lora}: base checkpoint + peft LoRA adapter → a full Hugging Face checkpoint with the
 * adapter merged in. Tensors the adapter does not touch are copied as stored, streamed one at a time from the mapped
 * base (never all in memory); adapted weights become W + scale · B·A (float32 math, stored as --save-dtype);
 * modules_to_save replace their base tensors. Every other file of the base folder (config.json, tokenizer files,
 * generation_config.json, preprocessor_config.json, the vision_tower/ folder) is copied. The output appears atomically: it is
 * written into a temporary folder beside --out and renamed into place when complete.
 */
@Command(name = "merge-lora", mixinStandardHelpOptions = true,
        description = "Merge a LoRA adapter (peft layout) into its base model and write a full checkpoint.")
public final class MergeLoraCommand implements Callable<Integer> {
    /** Weight files of the base that are not copied: the merged model.safetensors replaces them. */
    private static final List<String> WEIGHT_SUFFIXES = List.of(".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json",
            ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack");

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "BASE",
            description = "The base model the adapter was trained on: a local directory or a Hugging Face repo id.")
    String model;

    @Option(names = "--lora", required = true, paramLabel = "ADAPTER",
            description = "The adapter directory (adapter_config.json, adapter_model.safetensors).")
    Path lora;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where to write the merged checkpoint.")
    Path out;

    @Option(names = "--save-dtype", paramLabel = "TYPE",
            description = "Type of the merged tensors: bf16 or f32 (default: each base tensor's own type). Tensors the "
                    + "adapter does not change are copied as stored.")
    String saveDtype;

    @Option(names = "--force", description = "Replace --out if it exists and is not empty.")
    boolean force;

    @Override
    public Integer call() throws IOException {
        DType storeAs = saveDtype == null ? null : switch (saveDtype.toLowerCase(Locale.ROOT)) {
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new InstellaException("--save-dtype must be bf16 or f32, got '" + saveDtype + "'");
        };
        Path target = out.toAbsolutePath().normalize();
        checkOutput(target);
        LoraAdapter adapter = LoraAdapter.read(lora);
        Path baseDir = ModelSource.parse(model).resolve(ModelSource.Need.MODEL, null).toAbsolutePath().normalize();
        if (target.startsWith(baseDir) || baseDir.startsWith(target)) {
            throw new InstellaException(out + ": the output folder must not be or contain the base model folder " + baseDir);
        }
        if (!Files.isRegularFile(baseDir.resolve("config.json"))) {
            throw new InstellaException(baseDir + ": no config.json (the base must be a Hugging Face checkpoint folder)");
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempDirectory(parent, "." + target.getFileName() + ".partial-");
        readableByAll(temp);
        try {
            long bytes;
            try (Checkpoint base = Checkpoint.open(baseDir)) {
                adapter.checkAgainst(base);
                copyOtherFiles(baseDir, temp, true);
                bytes = writeWeights(base, adapter, storeAs, temp.resolve("model.safetensors"));
            }
            moveIntoPlace(temp, target);
            spec.commandLine().getOut().printf("merged %d adapted layer(s) and %d whole tensor(s) into %s (%.1f MB)%n",
                    adapter.pairs().size(), adapter.replacements().size(), out, bytes / 1e6);
            spec.commandLine().getOut().flush();
            return 0;
        } finally {
            deleteTree(temp);
        }
    }

    private void checkOutput(Path target) throws IOException {
        if (Files.exists(target) && !Files.isDirectory(target)) {
            throw new InstellaException(out + ": exists and is not a directory");
        }
        if (Files.isDirectory(target) && !force) {
            try (Stream<Path> s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    throw new InstellaException(out + ": already exists and is not empty; choose another --out or add --force to replace it");
                }
            }
        }
    }

    /** Streams every base tensor into one safetensors file: changed ones merged, the rest as stored. */
    private static long writeWeights(Checkpoint base, LoraAdapter adapter, DType storeAs, Path file) throws IOException {
        Set<String> changed = adapter.changedTensorNames();
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        long bytes = 0;
        for (String name : base.names()) {
            Tensor t = base.get(name);
            if (changed.contains(name)) {
                DType type = LoraAdapter.typeFor(t, storeAs);
                w.addDeferred(name, type, t.shape(), () -> LoraMerge.bytes(adapter.mergedValues(base, name), type));
                bytes += type.bytesFor(t.numel());
            } else {
                w.add(t);
                bytes += t.byteSize();
            }
        }
        w.write(file);
        return bytes;
    }

    /**
     * Copies the base folder's files except its top-level weights (configs, tokenizer, ...); subfolders (e.g.
     * vision_tower/ with the tower's own config and starting weights) are copied whole.
     */
    private static void copyOtherFiles(Path from, Path to, boolean topLevel) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(from)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                if (name.startsWith(".")) continue;
                if (Files.isDirectory(p)) {
                    Path sub = to.resolve(name);
                    Files.createDirectories(sub);
                    copyOtherFiles(p, sub, false);
                } else if (Files.isRegularFile(p) && (!topLevel || WEIGHT_SUFFIXES.stream().noneMatch(name::endsWith))) {
                    Files.copy(p, to.resolve(name));
                    to.resolve(name).toFile().setWritable(true, true);
                }
            }
        }
    }

    /** Renames the finished folder to {@code target}; an existing one (with --force) is moved aside first, then deleted. */
    private static void moveIntoPlace(Path temp, Path target) throws IOException {
        Path old = null;
        if (Files.exists(target)) {
            old = temp.resolveSibling("." + target.getFileName() + ".old-" + System.nanoTime());
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (old != null) Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
            throw e;
        }
        if (old != null) deleteTree(old);
    }

    /** A temporary directory is private (rwx------); the finished checkpoint should be readable like any folder. */
    private static void readableByAll(Path dir) {
        try {
            Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException | UnsupportedOperationException ignored) {
            // not a POSIX file system: its default permissions stand
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
