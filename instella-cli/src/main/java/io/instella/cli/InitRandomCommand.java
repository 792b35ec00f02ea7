package io.instella.cli;

import io.instella.core.tensor.DType;
import io.instella.model.InstellaException;
import io.instella.model.random.RandomCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code instella init-random}: a randomly initialised checkpoint of the real structure, for tests and benchmarks. */
@Command(name = "init-random", mixinStandardHelpOptions = true,
        description = "Write a randomly initialised Instella-VL checkpoint (tiny, small or the full instella-vl-1b shape).")
public final class InitRandomCommand implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "tiny", description = "tiny, small or instella-vl-1b (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--out", required = true, description = "Output directory (must be empty or absent).")
    Path out;

    @Option(names = "--tokenizer", required = true, description = "tokenizer.json to include (the GPT-NeoX/OLMo tokenizer).")
    Path tokenizer;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--dtype", defaultValue = "bf16", description = "bf16, f16 or f32 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--hidden-size", description = "Override the preset's language-model width.")
    Integer hidden;
    @Option(names = "--intermediate-size", description = "Override the language model's MLP width.")
    Integer intermediate;
    @Option(names = "--num-layers", description = "Override the language model's layer count.")
    Integer layers;
    @Option(names = "--num-heads", description = "Override the language model's head count.")
    Integer heads;
    @Option(names = "--vision-hidden-size", description = "Override the vision tower's width.")
    Integer visionHidden;
    @Option(names = "--vision-intermediate-size", description = "Override the vision tower's MLP width.")
    Integer visionIntermediate;
    @Option(names = "--vision-layers", description = "Override the vision tower's layer count.")
    Integer visionLayers;
    @Option(names = "--vision-heads", description = "Override the vision tower's head count.")
    Integer visionHeads;

    @Option(names = "--force", description = "Overwrite an existing non-empty output directory.")
    boolean force;

    @Override
    public Integer call() throws IOException {
        if (Files.isDirectory(tokenizer)) tokenizer = tokenizer.resolve("tokenizer.json");
        InputFiles.requireRegularFile(tokenizer);
        if (Files.exists(out) && !force) {
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent()) {
                    throw new InstellaException(out + " is not empty; choose another --out or pass --force to overwrite");
                }
            }
        }
        DType dt = DType.fromSafetensors(dtype);
        if (dt == null) throw new InstellaException("unknown --dtype " + dtype + " (bf16, f16, f32)");
        var base = RandomCheckpoint.Preset.named(preset);
        var p = new RandomCheckpoint.Preset(base.name(),
                or(visionHidden, base.visionHidden()), or(visionIntermediate, base.visionIntermediate()),
                or(visionLayers, base.visionLayers()), or(visionHeads, base.visionHeads()),
                or(hidden, base.hidden()), or(intermediate, base.intermediate()), or(layers, base.layers()), or(heads, base.heads()));
        p.validate();
        long t0 = System.nanoTime();
        RandomCheckpoint.write(p, out, tokenizer, seed, dt);
        System.err.printf("wrote %s random checkpoint to %s in %.1f s%n", p.name(), out, (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    private static int or(Integer v, int d) { return v != null ? v : d; }
}
