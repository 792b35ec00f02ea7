package io.instella.train.lora;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraConfig;
import io.instella.model.lora.LoraException;
import io.instella.model.lora.LoraMerge;
import io.instella.model.lora.LoraPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** W' = W + scale · B·A against a float64 reference; B = 0 leaves W as it is; stored types; shape checks. */
class LoraMergeTest {
    @TempDir
    Path tmp;

    @Test
    void mergeMatchesAFloat64Reference() {
        SplittableRandom random = new SplittableRandom(7);
        // Shapes cover the few-rows (out <= 4) and many-rows kernel paths and ranks 1 to 16.
        int[][] shapes = {{3, 5, 1}, {4, 7, 2}, {37, 19, 3}, {64, 48, 8}, {130, 70, 16}};
        for (int[] s : shapes) {
            int out = s[0], in = s[1], r = s[2];
            float[] w = values(random, out * in, 1);
            float[] a = values(random, r * in, 0.5);
            float[] b = values(random, out * r, 0.5);
            float scale = 16f / r;
            for (DType type : List.of(DType.F32, DType.BF16)) {
                Tensor base = type == DType.F32 ? Tensor.ofFloats("w", w, out, in)
                        : new Tensor("w", DType.BF16, new long[]{out, in}, SafeTensorsWriter.toBf16(w));
                float[] merged = LoraMerge.merge(base, new LoraPair("m", r, in, out, a, b), scale);
                for (int o = 0; o < out; o++) {
                    for (int i = 0; i < in; i++) {
                        double ba = 0;
                        for (int k = 0; k < r; k++) ba += (double) b[o * r + k] * a[k * in + i];
                        double expected = base.getFloat((long) o * in + i) + scale * ba;
                        assertThat((double) merged[o * in + i]).as("%s [%d,%d,%d] at (%d,%d)", type, out, in, r, o, i)
                                .isCloseTo(expected, org.assertj.core.data.Offset.offset(2e-6 * (1 + Math.abs(expected)) * r));
                    }
                }
            }
        }
    }

    @Test
    void zeroBLeavesTheWeightsExactlyAsTheyWere() throws Exception {
        Path ckpt = tmp.resolve("model.safetensors");
        SplittableRandom random = new SplittableRandom(3);
        float[] w = values(random, 24 * 16, 1);
        new SafeTensorsWriter().addBf16("model.layers.0.mlp.up_proj.weight", w, 24, 16).write(ckpt);
        LoraConfig config = LoraConfig.of(4, 32, 0, List.of("up_proj"), null, null);
        try (Checkpoint base = Checkpoint.open(ckpt)) {
            LoraAdapter fresh = LoraTargets.initialize(config, base, 1);
            LoraPair p = fresh.pairs().get("model.layers.0.mlp.up_proj");
            assertThat(p.b()).containsOnly(0f);
            for (float v : p.a()) assertThat(Math.abs(v)).isLessThanOrEqualTo((float) (1 / Math.sqrt(16)));
            assertThat(p.a()).doesNotContain(0f);
            Tensor stored = base.get("model.layers.0.mlp.up_proj.weight");
            for (DType type : new DType[]{null, DType.F32}) {
                Tensor merged = fresh.mergedTensors(base, type).get("model.layers.0.mlp.up_proj.weight");
                assertThat(merged.dtype()).isEqualTo(type == null ? DType.BF16 : DType.F32);
                assertThat(merged.toFloatArray()).containsExactly(stored.toFloatArray());
            }
        }
    }

    @Test
    void storedTypesRoundToNearestEven() throws Exception {
        Path ckpt = tmp.resolve("model.safetensors");
        float[] w = values(new SplittableRandom(5), 8 * 6, 1);
        new SafeTensorsWriter().addBf16("model.layers.0.self_attn.o_proj.weight", w, 8, 6).write(ckpt);
        LoraAdapter adapter = LoraAdapter.builder(LoraConfig.of(2, 3, 0, List.of("o_proj"), null, null))
                .pair("model.layers.0.self_attn.o_proj", 2, 6, 8, values(new SplittableRandom(1), 12, 1), values(new SplittableRandom(2), 16, 1))
                .build();
        try (Checkpoint base = Checkpoint.open(ckpt)) {
            float[] exact = adapter.mergedValues(base, "model.layers.0.self_attn.o_proj.weight");
            Tensor f32 = adapter.mergedTensors(base, DType.F32).get("model.layers.0.self_attn.o_proj.weight");
            Tensor bf16 = adapter.mergedTensors(base, null).get("model.layers.0.self_attn.o_proj.weight");
            assertThat(f32.toFloatArray()).containsExactly(exact);
            for (int i = 0; i < exact.length; i++) {
                assertThat(bf16.getFloat(i)).isEqualTo(Tensor.bf16ToFloat(Tensor.floatToBf16(exact[i])));
            }
            Checkpoint view = adapter.applyTo(base, DType.F32);
            assertThat(view.get("model.layers.0.self_attn.o_proj.weight").toFloatArray()).containsExactly(exact);
            assertThat(base.get("model.layers.0.self_attn.o_proj.weight").dtype()).isEqualTo(DType.BF16);
        }
    }

    @Test
    void anAdapterForAnotherModelNamesTheTensorAndBothShapes() throws Exception {
        Path ckpt = tmp.resolve("model.safetensors");
        new SafeTensorsWriter().addBf16("model.layers.0.self_attn.q_proj.weight", new float[8 * 6], 8, 6)
                .addBf16("model.mm_projector.0.weight", new float[4], 2, 2).write(ckpt);
        LoraAdapter wrongShape = LoraAdapter.builder(LoraConfig.of(2, 2, 0, List.of("q_proj"), null, null))
                .pair("model.layers.0.self_attn.q_proj", 2, 5, 8, new float[10], new float[16]).build();
        LoraAdapter missing = LoraAdapter.builder(LoraConfig.of(2, 2, 0, List.of("q_proj"), null, null))
                .pair("model.layers.9.self_attn.q_proj", 2, 6, 8, new float[12], new float[16]).build();
        LoraAdapter badReplacement = LoraAdapter.builder(LoraConfig.of(2, 2, 0, List.of("q_proj"), List.of("mm_projector"), null))
                .replacement("model.mm_projector.0.weight", new float[6], 2, 3).build();
        try (Checkpoint base = Checkpoint.open(ckpt)) {
            assertThatThrownBy(() -> wrongShape.applyTo(base, null)).isInstanceOf(LoraException.class)
                    .hasMessageContaining("'model.layers.0.self_attn.q_proj.weight' is [8, 6] in the model")
                    .hasMessageContaining("lora_B·lora_A is [8, 5]").hasMessageContaining("different model");
            assertThatThrownBy(() -> missing.applyTo(base, null)).isInstanceOf(LoraException.class)
                    .hasMessageContaining("has no tensor 'model.layers.9.self_attn.q_proj.weight'");
            assertThatThrownBy(() -> badReplacement.applyTo(base, null)).isInstanceOf(LoraException.class)
                    .hasMessageContaining("'model.mm_projector.0.weight' is [2, 2] in the model but [2, 3] in the adapter");
        }
    }

    @Test
    void targetSelectionOnACheckpointRefusesNonLinearAndEmptySelections() throws Exception {
        Path ckpt = tmp.resolve("model.safetensors");
        new SafeTensorsWriter().addBf16("model.embed_tokens.weight", new float[8], 4, 2)
                .addBf16("model.layers.0.self_attn.q_proj.weight", new float[4], 2, 2).write(ckpt);
        try (Checkpoint base = Checkpoint.open(ckpt)) {
            assertThat(LoraTargets.select(LoraConfig.of(2, 2, 0, null, null, null), base))
                    .extracting(LoraTargets.Target::module).containsExactly("model.layers.0.self_attn.q_proj");
            assertThatThrownBy(() -> LoraTargets.select(LoraConfig.of(2, 2, 0, List.of("embed_tokens"), null, null), base))
                    .hasMessageContaining("'model.embed_tokens'").hasMessageContaining("not a Linear layer");
            assertThatThrownBy(() -> LoraTargets.select(LoraConfig.of(2, 2, 0, List.of("c_attn"), null, null), base))
                    .hasMessageContaining("[c_attn] select no layer");
            assertThatThrownBy(() -> LoraTargets.wholeTensors(LoraConfig.of(2, 2, 0, null, List.of("mm_projector"), null), base))
                    .hasMessageContaining("match no tensor");
        }
    }

    static float[] values(SplittableRandom random, int n, double range) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((random.nextDouble() * 2 - 1) * range);
        return v;
    }
}
