package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.kernels.MachineLimits;
import io.instella.core.kernels.Parallel;
import io.instella.core.tensor.DType;
import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.QuantizedCheckpoint;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.config.TextConfig;
import io.instella.model.config.VisionConfig;
import io.instella.model.image.RgbImage;
import io.instella.model.lm.KVCache;
import io.instella.model.lm.OlmoModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code instella bench}: load time, prefill and decode speed, vision tower time per tile, time to first
 * token for an image question and peak memory, per weight type; and the machine's own limits (read
 * bandwidth, peak FMA rate) measured in the same run, with every figure also as a fraction of its limit.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark a model per weight type against the machine's measured limits.")
public final class BenchCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    /** Normally an init-random instella-vl-1b checkpoint. */
    @Mixin
    CommonOptions.Model modelOption;

    /** The model's local directory, once resolved. */
    private Path model;

    @Option(names = "--weights", split = ",", defaultValue = "bf16,q8_0,q4_0",
            description = "Weight types, comma-separated: as-stored (bf16/f16/f32: the checkpoint's own), q8_0, q4_0 (default: ${DEFAULT-VALUE}).")
    List<String> weights;

    @Mixin
    CommonOptions.Threads threads;

    @Mixin
    CommonOptions.Bf16Compute bf16Compute;

    @Option(names = "--prefill", defaultValue = "512", converter = OptionValues.Positive.class, description = "Prompt tokens for the prefill figure (default: ${DEFAULT-VALUE}).")
    int prefillTokens;

    @Option(names = "--decode", defaultValue = "128", converter = OptionValues.Positive.class, description = "Tokens for the decode figure (default: ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--decode-depth", defaultValue = "0", converter = OptionValues.NonNegative.class, description = "Positions already in the KV cache when the decode"
            + " figure starts: 0 is llama-bench's tg (decode from an empty context), 512 decodes after a 512-token prompt"
            + " (default: ${DEFAULT-VALUE}).")
    int decodeDepth;

    @Option(names = "--runs", defaultValue = "2", converter = OptionValues.Positive.class, description = "Timed repetitions per figure; the best is reported (default: ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--skip-vision", description = "Skip the vision tower and time-to-first-token figures.")
    boolean skipVision;

    @Option(names = "--quant-at-load", description = "Quantize while loading instead of loading an ahead-of-time quantized copy.")
    boolean quantAtLoad;

    @Mixin
    CommonOptions.KvCache kvCacheOption;

    /** --kv-cache as given (null: the default per weight type). */
    private String kvCache;

    @Option(names = "--scratch", description = "Directory for the temporary quantized copies (default: the system temp directory).")
    Path scratch;

    @Option(names = "--train", description = "Benchmark training steps instead (forward, backward, AdamW): tokens/s and"
            + " share of the FMA peak for --train-modes.")
    boolean train;

    @Option(names = "--train-modes", split = ",", defaultValue = "stage1,lora,full",
            description = "With --train: stage1 (square image, projector trained), lora (r = --lora-r on every LM linear layer),"
                    + " full (the whole language model) (default: ${DEFAULT-VALUE}).")
    List<String> trainModes;

    @Option(names = "--train-tokens", defaultValue = "1024", converter = OptionValues.Positive.class,
            description = "With --train: sequence length of the one-example batch (default: ${DEFAULT-VALUE}).")
    int trainTokens;

    @Option(names = "--lora-r", defaultValue = "64", converter = OptionValues.Positive.class,
            description = "With --train: LoRA rank of the lora mode (default: ${DEFAULT-VALUE}).")
    int loraRank;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--in-process", description = "Run every weight type in this JVM instead of a fresh JVM each"
            + " (then peak RSS also counts what earlier weight types left in the heap).")
    boolean inProcess;

    @Option(names = "--probe-mib", hidden = true, defaultValue = "1024", converter = OptionValues.Positive.class,
            description = "Buffer for the read-bandwidth probe, MiB (far larger than the caches).")
    int probeMib;

    @Option(names = "--worker", hidden = true, description = "Internal: benchmark the one weight type and print its raw figures.")
    boolean worker;

    @Override
    public Integer call() throws IOException {
        threads.apply();
        bf16Compute.apply();
        kvCache = kvCacheOption.kvCache;
        PrintWriter err = spec.commandLine().getErr();
        for (String w : weights) {
            if (!w.strip().toLowerCase(java.util.Locale.ROOT).matches("bf16|f16|f32|stored|q8_0|q4_0|q8|q4")) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "Invalid value for option '--weights': expected bf16, f16, f32, stored, q8_0 or q4_0, got '" + w + "'");
            }
        }
        model = modelOption.resolve(io.instella.model.source.ModelSource.Need.MODEL, err);
        PrintWriter out = spec.commandLine().getOut();
        if (train) {
            try {
                return TrainBench.run(model, trainModes, trainTokens, loraRank, runs, json, out, err);
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException(e);
            }
        }
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        if (worker) {
            if (weights.size() != 1) throw new InstellaException("--worker takes exactly one weight type");
            String name = weights.get(0).trim().toLowerCase(java.util.Locale.ROOT);
            // The parent already wrote the quantized copy (its buffers then stay out of this process's RSS).
            DType quant = quantOf(name);
            out.println(new ObjectMapper().writeValueAsString(
                    benchLoaded(mapper, mapper.createObjectNode(), name, model, quantAtLoad ? quant : null, err)));
            out.flush();
            return 0;
        }
        ObjectNode root = mapper.createObjectNode();
        ObjectNode machine = root.putObject("machine");
        // The limits are measured before and after every weight type and the best kept: on a shared
        // machine a single measurement may catch a busy moment and understate the limit.
        double[] limits = {0, 0};
        measureLimits(limits, probeMib, err);
        ArrayNode results = root.putArray("results");
        for (String w : weights) {
            String name = w.trim().toLowerCase(java.util.Locale.ROOT);
            DType quant = quantOf(name);
            if (inProcess) {
                results.add(benchOne(mapper, name, quant, err));
            } else {
                ObjectNode pre = mapper.createObjectNode();
                Path temp = quantizeAhead(name, quant, pre, err);
                try {
                    ObjectNode r = benchInChild(mapper, name, temp != null ? temp : model, err);
                    if (pre.has("quantize_s")) r.set("quantize_s", pre.get("quantize_s"));
                    results.add(r);
                } finally {
                    if (temp != null) deleteTree(temp);
                }
            }
            measureLimits(limits, probeMib, err);
        }
        double readGbps = limits[0], fmaGflops = limits[1];
        machine.put("read_gbps", round(readGbps, 2)).put("fma_gflops", round(fmaGflops, 1)).put("threads", Parallel.threads());
        machine.put("cpu", cpuName()).put("vector_bits", io.instella.core.kernels.Vectors.bits());
        machine.put("quantized_kernels", io.instella.core.kernels.NativeKernels.status());
        machine.put("bf16_compute", io.instella.core.kernels.Bf16Dot.status());
        for (var node : results) {
            ObjectNode r = (ObjectNode) node;
            ObjectNode ratios = r.putObject("ratios");
            ratios.put("prefill_of_fma", ratio(r.get("prefill_tps").asDouble() * r.get("prefill_gflop_per_token").asDouble() / fmaGflops));
            ratios.put("decode_of_read", ratio(r.get("decode_tps").asDouble() * r.get("decode_bytes_per_token").asDouble() / 1e9 / readGbps));
            if (r.has("vit_tile_s")) {
                ratios.put("vit_of_fma", ratio(r.get("vit_gflop_per_tile").asDouble() / r.get("vit_tile_s").asDouble() / fmaGflops));
            }
            ratios.put("rss_of_weights", ratio(r.get("peak_rss_bytes").asDouble() / r.get("weight_bytes").asDouble()));
        }
        if (json) {
            out.println(mapper.writeValueAsString(root));
        } else {
            out.printf("machine: %s, %d threads, read %.1f GB/s, FMA peak %.1f GFLOP/s%n", cpuName(), Parallel.threads(), readGbps, fmaGflops);
            for (var r : results) {
                out.printf("%-5s load %.2f s | prefill %.1f tok/s (%.0f%% of FMA peak) | decode %.2f tok/s (%.0f%% of read bandwidth)"
                                + " | vision %.2f s/tile (%.0f%% of FMA peak) | TTFT 640x480 %.2f s | peak RSS %.2f GB (%.2f× weights)%n",
                        r.get("weights").asText(), r.get("load_s").asDouble(), r.get("prefill_tps").asDouble(),
                        100 * r.path("ratios").path("prefill_of_fma").asDouble(), r.get("decode_tps").asDouble(),
                        100 * r.path("ratios").path("decode_of_read").asDouble(), r.path("vit_tile_s").asDouble(),
                        100 * r.path("ratios").path("vit_of_fma").asDouble(), r.path("ttft_640x480_s").asDouble(),
                        r.get("peak_rss_bytes").asDouble() / 1e9, r.path("ratios").path("rss_of_weights").asDouble());
            }
        }
        out.flush();
        return 0;
    }

    private static DType quantOf(String name) {
        return switch (name) {
            case "bf16", "f16", "f32", "stored" -> null;
            default -> InstellaVL.quantization(name);
        };
    }

    private static void measureLimits(double[] limits, int probeMib, PrintWriter err) {
        double read = MachineLimits.readBandwidthGbps((long) probeMib << 20, 4);
        double fma = MachineLimits.fmaPeakGflops(probeMib >= 256 ? 40_000_000L : 2_000_000L, 4);
        limits[0] = Math.max(limits[0], read);
        limits[1] = Math.max(limits[1], fma);
        err.printf("bench: machine limits: read %.1f GB/s, FMA peak %.1f GFLOP/s (best so far %.1f, %.1f), %d threads%n",
                read, fma, limits[0], limits[1], Parallel.threads());
        err.flush();
    }

    /** Runs one weight type in a fresh JVM (same program, same flags), so its peak RSS is its own. */
    private ObjectNode benchInChild(ObjectMapper mapper, String name, Path dir, PrintWriter err) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib") && !a.startsWith("-javaagent") && !a.startsWith("-XX:StartFlightRecording")) cmd.add(a);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench", "--worker",
                "--model", dir.toString(), "--weights", name, "--threads", String.valueOf(Parallel.threads()),
                "--prefill", String.valueOf(prefillTokens), "--decode", String.valueOf(decodeTokens), "--decode-depth", String.valueOf(decodeDepth),
                "--runs", String.valueOf(runs)));
        if (skipVision) cmd.add("--skip-vision");
        if (bf16Compute.on) cmd.add("--bf16-compute");
        if (quantAtLoad) cmd.add("--quant-at-load");
        if (kvCache != null) cmd.addAll(List.of("--kv-cache", kvCache));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String stdout = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        int rc;
        try {
            rc = p.waitFor();
        } catch (InterruptedException e) {
            p.destroy();
            Thread.currentThread().interrupt();
            throw new InstellaException("bench interrupted");
        }
        String last = stdout.lines().filter(l -> l.startsWith("{")).reduce((x, y) -> y).orElse(null);
        if (rc != 0 || last == null) {
            throw new InstellaException("the benchmark of " + name + " failed (exit code " + rc + ")");
        }
        return (ObjectNode) mapper.readTree(last);
    }

    private ObjectNode benchOne(ObjectMapper mapper, String name, DType quant, PrintWriter err) throws IOException {
        ObjectNode pre = mapper.createObjectNode();
        Path temp = quantizeAhead(name, quant, pre, err);
        try {
            ObjectNode r = benchLoaded(mapper, mapper.createObjectNode(), name, temp != null ? temp : model,
                    quantAtLoad ? quant : null, err);
            if (pre.has("quantize_s")) r.set("quantize_s", pre.get("quantize_s"));
            return r;
        } finally {
            if (temp != null) deleteTree(temp);
        }
    }

    /**
     * Writes the ahead-of-time quantized copy that the figures of a quantized type are measured on (what
     * {@code instella quantize} writes), or returns null when the model is used as given.
     */
    private Path quantizeAhead(String name, DType quant, ObjectNode r, PrintWriter err) throws IOException {
        if (quant == null || quantAtLoad) return null;
        Path temp = Files.createTempDirectory(scratch != null ? scratch : Path.of(System.getProperty("java.io.tmpdir")), "instella-bench-" + name + "-");
        long q0 = System.nanoTime();
        try {
            QuantizedCheckpoint.write(model, temp, quant);
        } catch (IOException | RuntimeException e) {
            deleteTree(temp);
            throw e;
        }
        r.put("quantize_s", round((System.nanoTime() - q0) / 1e9, 2));
        err.printf("bench: wrote a %s copy in %.1f s%n", name, (System.nanoTime() - q0) / 1e9);
        return temp;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private ObjectNode benchLoaded(ObjectMapper mapper, ObjectNode r, String name, Path dir, DType quant, PrintWriter err) {
        System.gc();
        ProcessMemory.resetPeak();
        long t0 = System.nanoTime();
        try (InstellaVL vl = InstellaVL.load(dir, quant)) {
            double loadS = (System.nanoTime() - t0) / 1e9;
            String label = vl.weightType().isQuantized() ? name : vl.weightType().name().toLowerCase(java.util.Locale.ROOT);
            err.printf("bench: %s loaded in %.2f s%n", label, loadS);
            OlmoModel lm = vl.languageModel();
            if (kvCache != null) lm.setCacheType(InstellaVL.kvCacheType(kvCache));
            TextConfig tc = lm.config();
            int h = tc.hiddenSize();
            SplittableRandom rnd = new SplittableRandom(1);
            int context = Math.max(prefillTokens, decodeDepth);
            int[] ids = new int[context + decodeTokens];
            for (int i = 0; i < ids.length; i++) ids[i] = 1000 + rnd.nextInt(40000);
            // Warm-up: compile the kernels on a short prompt and a few decode steps.
            int[] warmIds = new int[36];
            for (int i = 0; i < warmIds.length; i++) warmIds[i] = 1000 + rnd.nextInt(40000);
            KVCache warm = lm.newCache(64);
            float[] we = new float[32 * h];
            lm.embed(warmIds, 0, 32, we, 0);
            float[] wh = lm.forward(we, 32, warm);
            lm.logits(wh, 31);
            for (int i = 0; i < 4; i++) {
                float[] e = new float[h];
                lm.embed(warmIds, 32 + i, 1, e, 0);
                lm.logits(lm.forward(e, 1, warm), 0);
            }
            double prefillS = Double.MAX_VALUE, decodeS = Double.MAX_VALUE;
            float[] embeds = new float[context * h];
            lm.embed(ids, 0, context, embeds, 0);
            KVCache cache = lm.newCache(context + decodeTokens);
            for (int run = 0; run < runs; run++) {
                cache.clear();
                long p0 = System.nanoTime();
                float[] hidden = lm.forward(embeds, prefillTokens, cache);
                lm.logits(hidden, prefillTokens - 1);
                prefillS = Math.min(prefillS, (System.nanoTime() - p0) / 1e9);
                // Decode starts from decodeDepth cached positions (untimed prompt), the timed prompt's when they agree.
                if (decodeDepth != prefillTokens) {
                    cache.clear();
                    if (decodeDepth > 0) lm.forward(embeds, decodeDepth, cache);
                }
                float[] e = new float[h];
                long d0 = System.nanoTime();
                for (int i = 0; i < decodeTokens; i++) {
                    lm.embed(ids, decodeDepth + i, 1, e, 0);
                    lm.logits(lm.forward(e, 1, cache), 0);
                }
                decodeS = Math.min(decodeS, (System.nanoTime() - d0) / 1e9);
                err.printf("bench: %s run %d: prefill %.1f tok/s, decode %.2f tok/s%n", label, run + 1,
                        prefillTokens / prefillS, decodeTokens / decodeS);
            }
            double prefillTps = prefillTokens / prefillS, decodeTps = decodeTokens / decodeS;
            long weightBytes = vl.weightBytes();
            // Weights once per token plus the keys and values each step attends to (on average over the steps).
            long kvBytesPerPosition = 2L * tc.numLayers() * tc.kvDim() * (lm.cacheType() == DType.F16 ? 2 : 4);
            long decodeBytes = vl.decodeBytesPerToken() + Math.round(kvBytesPerPosition * (decodeDepth + (decodeTokens + 1) / 2.0));
            double prefillFlops = lmFlopsPerToken(tc, prefillTokens);
            r.put("weights", label);
            r.put("load_s", round(loadS, 3));
            r.put("prefill_tps", round(prefillTps, 2));
            r.put("decode_tps", round(decodeTps, 2));
            r.put("decode_context", decodeDepth); // positions in the KV cache when the decode figure started
            r.put("kv_cache", lm.cacheType().name().toLowerCase(java.util.Locale.ROOT));
            r.put("prefill_gflop_per_token", round(prefillFlops / 1e9, 4));
            // Peak memory of the text benchmark (load, prefill, decode), the figure compared with the weights;
            // the image phase below is reported separately (its KV cache holds ~2,400 positions).
            long rss = ProcessMemory.peakRssBytes();
            r.put("peak_rss_bytes", rss);
            r.put("weight_bytes", weightBytes);
            r.put("decode_bytes_per_token", decodeBytes);
            if (vl.supportsImages() && !skipVision) {
                VisionConfig vc = vl.visionTower().config();
                int s = vc.imageSize();
                float[] tile = new float[3 * s * s];
                for (int i = 0; i < tile.length; i++) tile[i] = (float) rnd.nextGaussian();
                double vitS = Double.MAX_VALUE;
                vl.visionTower().forward(tile, 1); // warm-up
                for (int run = 0; run < runs; run++) {
                    long v0 = System.nanoTime();
                    vl.visionTower().forward(tile, 1);
                    vitS = Math.min(vitS, (System.nanoTime() - v0) / 1e9);
                }
                err.printf("bench: %s vision tower %.2f s per tile%n", label, vitS);
                double ttft = Double.MAX_VALUE;
                int promptTokens = 0;
                for (int run = 0; run < Math.min(runs, 2); run++) {
                    RgbImage image = testImage(640, 480);
                    long q0 = System.nanoTime();
                    PreparedPrompt p = vl.prepare(ChatTemplate.single("What is shown in this image? Describe it in detail.", 1), List.of(image));
                    float[] pe = vl.embed(p);
                    KVCache c = lm.newCache(p.sequenceLength() + 1);
                    float[] hid = lm.forward(pe, p.sequenceLength(), c);
                    lm.logits(hid, p.sequenceLength() - 1);
                    ttft = Math.min(ttft, (System.nanoTime() - q0) / 1e9);
                    promptTokens = p.sequenceLength();
                }
                err.printf("bench: %s time to first token (640x480 image, %d prompt tokens) %.2f s%n", label, promptTokens, ttft);
                r.put("vit_tile_s", round(vitS, 3));
                r.put("ttft_640x480_s", round(ttft, 3));
                r.put("ttft_prompt_tokens", promptTokens);
                r.put("vit_gflop_per_tile", round(vitFlopsPerTile(vc, vl.visionLayersRun()) / 1e9, 2));
                r.put("peak_rss_with_image_bytes", ProcessMemory.peakRssBytes());
            }
        }
        return r;
    }

    /** Multiply-adds ×2 per prompt token: the decoder's projections plus causal attention averaged over the prompt. */
    static double lmFlopsPerToken(TextConfig c, int promptTokens) {
        long h = c.hiddenSize(), kv = c.kvDim(), inter = c.intermediateSize();
        double linear = 2.0 * c.numLayers() * (2 * h * h + 2 * h * kv + 3 * h * inter);
        double attention = 2.0 * c.numLayers() * 2 * h * (promptTokens + 1) / 2.0;
        return linear + attention;
    }

    /** Flops of one tile: patch embedding, then per layer the projections, MLP and attention over all tokens. */
    static double vitFlopsPerTile(VisionConfig v, int layers) {
        long d = v.hiddenSize(), inter = v.intermediateSize(), tokens = v.numPatches() + 1;
        long patch = (long) v.numChannels() * v.patchSize() * v.patchSize();
        double embed = 2.0 * v.numPatches() * patch * d;
        double perLayer = 2.0 * tokens * (4 * d * d + 2 * d * inter) + 2.0 * 2 * tokens * tokens * d;
        return embed + layers * perLayer;
    }

    /** A deterministic photo-like test image (smooth gradients and some texture). */
    static RgbImage testImage(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        SplittableRandom r = new SplittableRandom(3);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (y * w + x) * 3;
                rgb[i] = (byte) (x * 255 / w);
                rgb[i + 1] = (byte) (y * 255 / h);
                rgb[i + 2] = (byte) ((x ^ y) + r.nextInt(16));
            }
        }
        return new RgbImage(w, h, rgb);
    }

    static String cpuName() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }

    /**
     * A ratio to three significant digits: three decimals would print 0.0 for a tiny model's prefill against the
     * machine's peak, which reads as "not measured".
     */
    static double ratio(double v) {
        if (v == 0 || !Double.isFinite(v)) return v;
        return new java.math.BigDecimal(v).round(new java.math.MathContext(3)).doubleValue();
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
