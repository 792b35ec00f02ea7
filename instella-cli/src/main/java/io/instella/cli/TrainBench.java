package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.kernels.MachineLimits;
import io.instella.core.kernels.Parallel;
import io.instella.model.config.InstellaConfig;
import io.instella.model.config.TextConfig;
import io.instella.model.image.PreprocessedImage;
import io.instella.train.data.Batch;
import io.instella.train.data.TrainingExample;
import io.instella.train.model.TrainableModel;
import io.instella.train.model.TunableParts;
import io.instella.train.optim.AdamW;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code instella bench --train}: tokens/s of whole optimizer steps (forward, backward, AdamW) on the model's real
 * shape for stage 1 (square image, projector trained), LoRA and full fine-tuning of the language model, with the
 * useful FLOP rate as a share of the FMA peak measured in the same run and the peak RSS of each.
 * <p>Useful FLOPs: 2·N·T forward + 2·N·T activation gradients (every layer the gradient passes through) + 2·N·T weight
 * gradients of trained weights, N = weights of the linear layers (the head counted over the target rows only), plus
 * causal attention (2·T²·hidden per layer forward, twice that backward). Recomputation by activation checkpointing is
 * not counted: it is the price of the memory it saves.
 */
final class TrainBench {
    private TrainBench() {}

    static int run(Path model, List<String> modes, int tokens, int loraRank, int runs, boolean json, PrintWriter out,
                   PrintWriter err) throws Exception {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = mapper.createObjectNode();
        // The peak is measured before and after every mode and the best kept: on a shared machine one measurement
        // may catch a busy moment and understate it (then every share would be overstated).
        double fma = peak(0, err);
        var results = root.putArray("train");
        for (String mode : modes) {
            ProcessMemory.resetPeak();
            ObjectNode r = benchMode(mapper, model, mode.trim(), tokens, loraRank, runs, err);
            r.put("peak_rss_bytes", ProcessMemory.peakRssBytes());
            results.add(r);
            System.gc();
            fma = peak(fma, err);
        }
        for (var node : results) {
            ObjectNode r = (ObjectNode) node;
            double gflops = r.get("gflop_per_step").asDouble() / r.get("step_s").asDouble();
            r.put("gflops", Math.round(gflops * 10) / 10.0);
            r.putObject("ratios").put("of_fma_peak", BenchCommand.ratio(gflops / fma));
        }
        root.putObject("machine").put("cpu", BenchCommand.cpuName()).put("threads", Parallel.threads())
                .put("fma_gflops", Math.round(fma * 10) / 10.0).put("vector_bits", io.instella.core.kernels.Vectors.bits());
        if (json) {
            out.println(mapper.writeValueAsString(root));
        } else {
            out.printf("machine: %s, %d threads, FMA peak %.1f GFLOP/s%n", BenchCommand.cpuName(), Parallel.threads(), fma);
            for (var r : results) {
                out.printf("%-7s %5d tokens | step %.2f s | %.1f tok/s | %.0f GFLOP/s = %.0f%% of FMA peak | peak RSS %.2f GB | trained %,d%n",
                        r.get("mode").asText(), r.get("tokens").asInt(), r.get("step_s").asDouble(), r.get("tokens_per_s").asDouble(),
                        r.get("gflops").asDouble(), 100 * r.path("ratios").path("of_fma_peak").asDouble(),
                        r.get("peak_rss_bytes").asDouble() / 1e9, r.get("trained_parameters").asLong());
            }
        }
        out.flush();
        return 0;
    }

    private static double peak(double best, PrintWriter err) {
        double fma = MachineLimits.fmaPeakGflops(40_000_000L, 4);
        err.printf("bench --train: FMA peak %.1f GFLOP/s (best so far %.1f), %d threads%n", fma, Math.max(best, fma), Parallel.threads());
        err.flush();
        return Math.max(best, fma);
    }

    private static ObjectNode benchMode(ObjectMapper mapper, Path dir, String mode, int tokens, int loraRank, int runs,
                                        PrintWriter err) {
        InstellaConfig config = InstellaConfig.load(dir);
        TextConfig t = config.text();
        TrainableModel.Options options = switch (mode) {
            case "stage1" -> new TrainableModel.Options(TunableParts.parse("mm_mlp_adapter"), "square", "flat", 8192);
            case "lora" -> new TrainableModel.Options(TunableParts.NONE, "anyres", "spatial_unpad", 32768,
                    io.instella.model.lora.LoraConfig.of(loraRank, 2.0 * loraRank, 0, null, null, dir.toString()), 42);
            case "full" -> new TrainableModel.Options(TunableParts.parse("mm_language_model"), "anyres", "spatial_unpad", 32768);
            default -> throw new IllegalArgumentException("unknown --train-modes entry '" + mode + "' (stage1, lora, full)");
        };
        long t0 = System.nanoTime();
        try (TrainableModel model = TrainableModel.open(dir, options)) {
            double loadS = (System.nanoTime() - t0) / 1e9;
            int imageRows = 0;
            SplittableRandom rng = new SplittableRandom(1);
            List<PreprocessedImage> images = List.of();
            boolean withImage = mode.equals("stage1") && config.hasVision();
            if (withImage) {
                int s = config.multimodal().vision().imageSize();
                float[] pixels = new float[3 * s * s];
                for (int i = 0; i < pixels.length; i++) pixels[i] = (float) (rng.nextDouble() * 4 - 2);
                images = List.of(new PreprocessedImage(s, s, 1, pixels, 0, 0));
                imageRows = model.layout(images.getFirst()).numImageTokens();
            }
            int textRows = Math.max(2, tokens - imageRows);
            int[] ids = new int[textRows + (withImage ? 1 : 0)];
            int[] labels = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 2 + rng.nextInt(Math.min(t.vocabSize(), 50_000) - 2);
                labels[i] = i < ids.length / 2 ? -100 : ids[i]; // the answer half is trained, as in a chat record
            }
            if (withImage) ids[0] = TrainableModel.IMAGE_TOKEN_INDEX;
            var example = new TrainingExample("bench", "bench", ids, labels, images, !withImage);
            int[][] mask = {new int[ids.length]};
            Arrays.fill(mask[0], 1);
            Batch batch = new Batch(new int[][]{ids}, new int[][]{labels}, mask, List.of(example));
            AdamW adamw = new AdamW(model.parameters(), AdamW.Options.defaults());
            int rows = ids.length - (withImage ? 1 : 0) + imageRows;
            int targets = ids.length - ids.length / 2;
            double best = Double.MAX_VALUE;
            for (int run = 0; run <= runs; run++) { // run 0 warms the JIT up and is not counted
                model.parameters().zeroGrad();
                long s0 = System.nanoTime();
                model.forwardBackward(batch);
                adamw.step(1e-6);
                model.rebuild();
                double s = (System.nanoTime() - s0) / 1e9;
                err.printf("bench --train: %s run %d: %.2f s%n", mode, run, s);
                err.flush();
                if (run > 0) best = Math.min(best, s);
            }
            ObjectNode r = mapper.createObjectNode();
            r.put("mode", mode).put("tokens", rows).put("trained_parameters", model.parameters().numel());
            r.put("load_s", Math.round(loadS * 100) / 100.0).put("step_s", Math.round(best * 1000) / 1000.0);
            r.put("tokens_per_s", Math.round(rows / best * 10) / 10.0);
            r.put("gflop_per_step", Math.round(flops(config, mode, rows, targets, loraRank, imageRows, withImage) / 1e6) / 1e3);
            return r;
        }
    }

    /** Useful FLOPs of one step (see the class comment). */
    static double flops(InstellaConfig config, String mode, int rows, int targets, int loraRank, int imageRows, boolean withImage) {
        TextConfig t = config.text();
        long h = t.hiddenSize(), kv = t.kvDim(), inter = t.intermediateSize();
        double perLayer = h * h * 2 + h * kv * 2 + 3.0 * h * inter;
        double lm = perLayer * t.numLayers();
        double head = (double) h * t.vocabSize();
        boolean lmTrained = mode.equals("full");
        double f = 2 * lm * rows * (lmTrained ? 3 : 2) + 2 * head * targets * (lmTrained ? 3 : 2);
        f += t.numLayers() * 2.0 * rows * rows * h * 3; // causal attention: forward + backward (2×)
        if (mode.equals("lora")) {
            // A [r, in] and B [out, r] of every linear layer: Σ (in + out) = 9h + 2kv + 3·intermediate per layer
            double adapters = t.numLayers() * (double) loraRank * (9 * h + 2 * kv + 3 * inter);
            f += 2 * adapters * rows * 3;
        }
        if (withImage) {
            var mm = config.multimodal();
            var v = mm.vision();
            long d = v.hiddenSize();
            double vitLayer = 4.0 * d * d + 2.0 * d * v.intermediateSize();
            int layersRun = mm.selectLayer() < 0 ? v.numLayers() + 1 + mm.selectLayer() : mm.selectLayer();
            int vitRows = v.numPatches() + 1;
            f += 2 * vitLayer * layersRun * vitRows + 2.0 * vitRows * vitRows * d * layersRun * 2 // frozen tower: forward
                    + 2.0 * v.numPatches() * v.numChannels() * v.patchSize() * v.patchSize() * d;
            double projector = (double) mm.mmHiddenSize() * h + (double) h * h;
            f += 2 * projector * imageRows * 3;
        }
        return f;
    }
}
