package io.instella.cli;

import io.instella.core.tensor.DType;
import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.QuantizedCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code instella quantize}: write a Q8_0/Q4_0 copy of a checkpoint that loads by mmap. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Write a copy of a model with its projection weights quantized (llama.cpp Q8_0/Q4_0 blocks).")
public final class QuantizeCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    CommonOptions.Model model;

    @Option(names = "--out", required = true, description = "Output directory (must be empty or absent).")
    Path out;

    @Option(names = "--type", defaultValue = "q8_0", converter = OptionValues.Quantization.class, description = "q8_0 or q4_0 (default: ${DEFAULT-VALUE}).")
    String type;

    @Mixin
    CommonOptions.Threads threads;

    @Option(names = "--force", description = "Overwrite an existing non-empty output directory.")
    boolean force;

    @Override
    public Integer call() throws IOException {
        threads.apply();
        DType t = InstellaVL.quantization(type);
        if (Files.exists(out) && !force) {
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent()) throw new InstellaException(out + " is not empty; choose another --out or pass --force");
            }
        }
        long t0 = System.nanoTime();
        Path source = model.resolve(io.instella.model.source.ModelSource.Need.MODEL, spec.commandLine().getErr());
        long bytes = QuantizedCheckpoint.write(source, out, t);
        System.err.printf("wrote %s (%s, %.2f GB of weights) in %.1f s%n", out, t.name().toLowerCase(java.util.Locale.ROOT),
                bytes / 1e9, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
