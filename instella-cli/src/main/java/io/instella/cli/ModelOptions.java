package io.instella.cli;

import io.instella.api.InstellaModel;
import io.instella.api.LoadOptions;
import io.instella.core.kernels.Parallel;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/** How {@code run} and {@code chat} find and load the model. */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, paramLabel = "MODEL", defaultValue = ModelRefs.DEFAULT_MODEL,
            description = ModelRefs.MODEL_HELP + " Default: ${DEFAULT-VALUE}.")
    String model;

    @Option(names = "--ctx", paramLabel = "N", description = "Context length in tokens (default: the model's, 32768 for Instella-VL-1B).")
    Integer ctx;

    @Option(names = "--threads", paramLabel = "N", description = "Worker threads (default: all cores).")
    Integer threads;

    @Option(names = "--quant", paramLabel = "TYPE", description = "Quantize the projection weights at load time: q8_0 or q4_0.")
    String quant;

    @Option(names = "--kv-cache", paramLabel = "TYPE",
            description = "Key/value cache element type: f16 or f32 (default: f16 for quantized weights, f32 otherwise).")
    String kvCache;

    @Option(names = {"-q", "--quiet"}, description = "No progress or timing lines on stderr; only the answer.")
    boolean quiet;

    InstellaModel load(PrintWriter err) {
        if (threads != null) {
            if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
            Parallel.setThreads(threads);
        }
        LoadOptions o = LoadOptions.defaults();
        if (!quiet) o = o.withDownloadListener(ModelRefs.progress(err));
        if (ctx != null) o = o.withContextLength(ctx);
        if (quant != null) o = o.withQuantization(quant);
        if (kvCache != null) o = o.withKvCache(kvCache);
        return InstellaModel.load(model, o);
    }
}
