package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.model.random.RandomCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code instella quantize} and {@code instella bench --json} on a tiny random checkpoint. */
class BenchAndQuantizeCommandTest {
    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void tinyModel() throws Exception {
        model = dir.resolve("tiny");
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, model, Golden.resolve("model/tokenizer.json"), 3, DType.BF16);
    }

    @Test
    void quantizeWritesBlocksThatLoadByMmapAndRunLikeLoadTimeQuantization() {
        Path q8 = dir.resolve("tiny-q8");
        CliRunner r = CliRunner.run("quantize", "--model", model.toString(), "--out", q8.toString(), "--type", "q8_0");
        assertThat(r.exitCode()).as(r.err()).isZero();
        try (Checkpoint c = Checkpoint.open(q8)) {
            assertThat(c.get("model.layers.0.mlp.up_proj.weight").dtype()).isEqualTo(DType.Q8_0_R8); // the language model interleaved by 8 rows
            assertThat(c.get("model.layers.0.self_attn.q_proj.weight").dtype()).isEqualTo(DType.BF16); // stays wide
            assertThat(c.get("model.embed_tokens.weight").dtype()).isEqualTo(DType.BF16);
            assertThat(c.get("model.vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight").dtype()).isEqualTo(DType.Q8_0);
            assertThat(c.get("model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight").dtype()).isEqualTo(DType.BF16);
        }
        // The ahead-of-time file and quantization at load time give the same model: same logits.
        try (InstellaVL pre = InstellaVL.load(q8); InstellaVL atLoad = InstellaVL.load(model, DType.Q8_0)) {
            assertThat(pre.weightType()).isEqualTo(DType.Q8_0);
            assertThat(pre.weightBytes()).isEqualTo(atLoad.weightBytes());
            int[] ids = {50279, 29, 93, 4537, 12092};
            float[] a = logits(pre, ids), b = logits(atLoad, ids);
            double worst = 0;
            for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
            assertThat(worst).as("max |logit difference|").isZero();
            assertThat(logits(pre, ids)).as("the same call again gives the same bits").isEqualTo(a);
        }
        CliRunner again = CliRunner.run("quantize", "--model", model.toString(), "--out", q8.toString(), "--type", "q8_0");
        assertThat(again.exitCode()).isEqualTo(1);
        assertThat(again.err()).contains("not empty");
        CliRunner bad = CliRunner.run("quantize", "--model", model.toString(), "--out", dir.resolve("x").toString(), "--type", "q5_k");
        assertThat(bad.exitCode()).isEqualTo(2);
        assertThat(bad.err()).contains("Invalid value for option '--type'").contains("got 'q5_k'");
    }

    /**
     * Q4_0 and Q8_0: the language model's matrices are stored interleaved by 8 rows (the layout its decode kernels
     * read, so loading is an mmap), the vision tower's as plain blocks; the file gives the model load-time
     * quantization gives. Where the native kernels do not run, the loader turns the interleaved blocks back into
     * plain ones.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q4_0", "Q8_0"})
    void quantizedFilesStoreTheLanguageModelInterleavedAndLoadLikeLoadTimeQuantization(DType type) {
        Path out = dir.resolve("tiny-" + type);
        CliRunner r = CliRunner.run("quantize", "--model", model.toString(), "--out", out.toString(), "--type", type.name().toLowerCase(java.util.Locale.ROOT));
        assertThat(r.exitCode()).as(r.err()).isZero();
        try (Checkpoint c = Checkpoint.open(out)) {
            assertThat(c.get("model.layers.0.mlp.up_proj.weight").dtype()).isEqualTo(type.interleaved());
            if (type == DType.Q4_0) assertThat(c.get("model.layers.0.self_attn.q_proj.weight").dtype()).isEqualTo(DType.Q4_0_R8);
            assertThat(c.get("model.vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight").dtype()).isEqualTo(type);
        }
        try (InstellaVL pre = InstellaVL.load(out); InstellaVL atLoad = InstellaVL.load(model, type)) {
            assertThat(pre.weightType()).isEqualTo(type);
            assertThat(pre.languageModel().layer(0).up().dtype())
                    .isEqualTo(io.instella.core.kernels.NativeKernels.available() ? type.interleaved() : type);
            assertThat(pre.weightBytes()).isEqualTo(atLoad.weightBytes());
            int[] ids = {50279, 29, 93, 4537, 12092};
            assertThat(logits(pre, ids)).containsExactly(logits(atLoad, ids));
        }
    }

    private static float[] logits(InstellaVL vl, int[] ids) {
        var lm = vl.languageModel();
        int h = lm.config().hiddenSize();
        float[] e = new float[ids.length * h];
        lm.embed(ids, 0, ids.length, e, 0);
        float[] hidden = lm.forward(e, ids.length, lm.newCache(ids.length + 1));
        return lm.logits(hidden, ids.length - 1);
    }

    @Test
    void benchJsonHasTheFiguresAndTheMachineLimits() throws Exception {
        CliRunner r = CliRunner.run("bench", "--model", model.toString(), "--weights", "bf16,q4_0", "--threads", "2",
                "--prefill", "24", "--decode", "4", "--runs", "1", "--in-process", "--probe-mib", "64", "--json",
                "--scratch", dir.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode root = new ObjectMapper().readTree(r.out());
        JsonNode machine = root.get("machine");
        assertThat(machine.get("read_gbps").asDouble()).isPositive();
        assertThat(machine.get("fma_gflops").asDouble()).isPositive();
        assertThat(machine.get("threads").asInt()).isEqualTo(2);
        assertThat(root.get("results")).hasSize(2);
        assertThat(root.get("results").get(0).get("weights").asText()).isEqualTo("bf16");
        assertThat(root.get("results").get(1).get("weights").asText()).isEqualTo("q4_0");
        // The cache type follows the weights unless --kv-cache names one.
        assertThat(root.get("results").get(0).get("kv_cache").asText()).isEqualTo("f32");
        assertThat(root.get("results").get(1).get("kv_cache").asText()).isEqualTo("f16");
        // Decode starts from an empty cache by default (llama-bench's tg); --decode-depth moves it.
        assertThat(root.get("results").get(0).get("decode_context").asInt()).isZero();
        for (JsonNode res : root.get("results")) {
            for (String key : new String[]{"load_s", "prefill_tps", "decode_tps", "vit_tile_s", "ttft_640x480_s", "peak_rss_bytes"}) {
                assertThat(res.get(key)).as(key).isNotNull();
                assertThat(res.get(key).asDouble()).as(key).isPositive();
            }
            for (String ratio : new String[]{"prefill_of_fma", "decode_of_read", "vit_of_fma", "rss_of_weights"}) {
                assertThat(res.get("ratios").get(ratio).asDouble()).as(ratio).isPositive();
            }
        }
    }

    @Test
    void decodeDepthStartsTheDecodeFigureAfterThatManyPositions() throws Exception {
        CliRunner r = CliRunner.run("bench", "--model", model.toString(), "--weights", "bf16", "--threads", "1",
                "--prefill", "8", "--decode", "3", "--decode-depth", "20", "--runs", "1", "--in-process",
                "--probe-mib", "16", "--skip-vision", "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode res = new ObjectMapper().readTree(r.out()).get("results").get(0);
        assertThat(res.get("decode_context").asInt()).isEqualTo(20);
        assertThat(res.get("decode_tps").asDouble()).isPositive();
        // Bytes per decode step count the cache it reads: 2 × layers × kvDim × 4 bytes per position, at 20 + 2 on average.
        JsonNode shallow = new ObjectMapper().readTree(CliRunner.run("bench", "--model", model.toString(), "--weights", "bf16",
                "--threads", "1", "--prefill", "8", "--decode", "3", "--runs", "1", "--in-process", "--probe-mib", "16",
                "--skip-vision", "--json").out()).get("results").get(0);
        assertThat(res.get("decode_bytes_per_token").asLong()).isGreaterThan(shallow.get("decode_bytes_per_token").asLong());

        CliRunner bad = CliRunner.run("bench", "--model", model.toString(), "--decode-depth", "-1");
        assertThat(bad.exitCode()).isNotZero();
        assertThat(bad.err()).contains("--decode-depth");
    }
}
