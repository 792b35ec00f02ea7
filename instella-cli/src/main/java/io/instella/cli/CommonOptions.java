package io.instella.cli;

import io.instella.core.kernels.Parallel;
import io.instella.core.tensor.DType;
import io.instella.model.InstellaVL;
import io.instella.model.source.ModelSource;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Options that several commands take, each declared once here (as a picocli mixin) with its converter from
 * {@link OptionValues}, so that every command documents, parses and checks it the same way.
 */
final class CommonOptions {
    private CommonOptions() {}

    /** {@code -m/--model}: run, chat, generate, serve, bench, quantize. */
    static final class Model {
        @Option(names = {"-m", "--model"}, paramLabel = "MODEL", defaultValue = ModelRefs.DEFAULT_MODEL,
                description = ModelRefs.MODEL_HELP + " Default: ${DEFAULT-VALUE}.")
        String model;

        /** A local directory holding what {@code need} asks for, downloading it first for a repo id. */
        Path resolve(ModelSource.Need need, PrintWriter err) {
            return ModelRefs.resolve(model, need, err);
        }
    }

    /** {@code --threads}. */
    static final class Threads {
        @Option(names = "--threads", paramLabel = "N", converter = OptionValues.Threads.class,
                description = "Worker threads (default: all cores).")
        Integer threads;

        /** Sizes the worker pool when --threads was given. */
        void apply() {
            if (threads != null) Parallel.setThreads(threads);
        }
    }

    /** {@code --bf16-compute}: run, chat, generate, serve, bench. */
    static final class Bf16Compute {
        @Option(names = "--bf16-compute", description = "Multiply BF16 weights with activations rounded to BF16 (vdpbf16ps on"
                + " AVX-512 BF16 CPUs, emulated elsewhere): faster prefill and vision tower there, but the logits move"
                + " (off by default; also -Dinstella.bf16dot=true or INSTELLA_BF16_DOT=1).")
        boolean on;

        /** Turns BF16 compute on when --bf16-compute was given. */
        void apply() {
            if (on) io.instella.core.kernels.Bf16Dot.setEnabled(true);
        }
    }

    /** {@code --ctx}. */
    static final class Context {
        @Option(names = "--ctx", paramLabel = "N", converter = OptionValues.ContextLength.class,
                description = "Context length in tokens, prompt plus answer (default: the model's, 32768 for Instella-VL-1B; serve: the smaller of 4096 and the model's).")
        Integer ctx;
    }

    /** {@code --quant}. */
    static final class Quant {
        @Option(names = "--quant", paramLabel = "TYPE", converter = OptionValues.Quantization.class,
                description = "Quantize the projection weights at load time: q8_0 or q4_0 (default: as stored).")
        String quant;

        DType type() {
            return quant == null ? null : InstellaVL.quantization(quant);
        }
    }

    /** {@code --kv-cache}. */
    static final class KvCache {
        @Option(names = "--kv-cache", paramLabel = "TYPE", converter = OptionValues.KvCacheType.class,
                description = "Key/value cache element type: f16 or f32 (default: f16 for quantized weights, f32 otherwise).")
        String kvCache;

        DType type() {
            return kvCache == null ? null : InstellaVL.kvCacheType(kvCache);
        }
    }

    /** {@code --lora}: run, chat, generate, serve. */
    static final class Lora {
        @Option(names = "--lora", paramLabel = "DIR",
                description = "Apply a LoRA adapter (peft layout: adapter_config.json, adapter_model.safetensors) at load time, merged into the weights.")
        Path dir;

        /** The load-time hook; reads the adapter now, so a bad directory fails before the model is loaded. */
        java.util.function.UnaryOperator<io.instella.core.safetensors.Checkpoint> atLoad() {
            return io.instella.model.lora.LoraAdapter.atLoad(dir);
        }
    }

    /** {@code -i/--image}: run, chat, generate. */
    static final class Images {
        @Option(names = {"-i", "--image"}, paramLabel = "FILE",
                description = "Image to ask about (repeatable; JPEG, PNG, GIF, BMP, TIFF, WebP); attached to the first question.")
        List<Path> images = new ArrayList<>();

        /** The files, each checked to be a readable regular file before anything is decoded or loaded. */
        List<Path> checked() {
            for (Path p : images) InputFiles.requireRegularFile(p);
            return images;
        }
    }

    /** {@code -q/--quiet}: run, chat. */
    static final class Quiet {
        @Option(names = {"-q", "--quiet"}, description = "No progress or timing lines on stderr; only the answer.")
        boolean quiet;
    }
}
