package io.instella.train.model;

import io.instella.core.testing.Golden;
import io.instella.model.lora.LoraConfig;
import io.instella.train.params.Parameter;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The LoRA path's gradients: against the full weight gradient (with B = 0, dL/dB = scale · dL/dW · Aᵀ and dL/dA = 0)
 * and against central finite differences of the loss (float64 differences of float32 losses, so a few elements with
 * loose bounds), on the golden tiny model and its text-only record.
 */
class LoraGradientTest {
    private static final String Q = "model.layers.1.self_attn.q_proj";

    private static TrainableModel open(TunableParts parts, LoraConfig lora, long seed) {
        return TrainableModel.open(Golden.resolve("model"), new TrainableModel.Options(parts, "anyres", "spatial_unpad", 32768, lora, seed));
    }

    @Test
    void withBZeroTheAdapterGradientsFollowFromTheFullWeightGradient() throws Exception {
        var example = GoldenGradientsTest.example("a3_text_only_multiturn", GoldenGradientsTest.mode("full"));
        var batch = GoldenGradientsTest.batchOf(List.of(example));
        var lora = LoraConfig.of(4, 8, 0, null, null, "golden");
        float[] dW, dA, dB, a;
        try (TrainableModel full = open(TunableParts.parse("mm_language_model"), null, 0)) {
            full.forwardBackward(batch);
            dW = full.parameters().get(Q + ".weight").grad();
        }
        try (TrainableModel adapted = open(TunableParts.NONE, lora, 11)) {
            assertThat(adapted.parameters().all()).allMatch(p -> p.name().contains(".lora_"));
            assertThat(adapted.parameters().size()).isEqualTo(2 * 7 * 2); // 7 linear layers × 2 LM layers × (A, B)
            adapted.forwardBackward(batch);
            a = adapted.parameters().get(Q + ".lora_A.weight").value();
            dA = adapted.parameters().get(Q + ".lora_A.weight").grad();
            dB = adapted.parameters().get(Q + ".lora_B.weight").grad();
        }
        int out = 128, in = 128, r = 4;
        float scale = 2f;
        double maxRef = 0, maxDiff = 0;
        for (int o = 0; o < out; o++) {
            for (int k = 0; k < r; k++) {
                double ref = 0;
                for (int i = 0; i < in; i++) ref += (double) dW[o * in + i] * a[k * in + i];
                ref *= scale;
                maxRef = Math.max(maxRef, Math.abs(ref));
                maxDiff = Math.max(maxDiff, Math.abs(ref - dB[o * r + k]));
            }
        }
        assertThat(maxRef).isGreaterThan(1e-3);
        assertThat(maxDiff).isLessThanOrEqualTo(1e-4 * Math.max(1, maxRef));
        for (float v : dA) assertThat(v).isZero();
    }

    @Test
    void adapterGradientsMatchFiniteDifferencesOfTheLoss() throws Exception {
        var example = GoldenGradientsTest.example("a3_text_only_multiturn", GoldenGradientsTest.mode("full"));
        var batch = GoldenGradientsTest.batchOf(List.of(example));
        try (TrainableModel m = open(TunableParts.NONE, LoraConfig.of(4, 8, 0, List.of(LoraConfig.languageModelTargets(List.of("q_proj", "down_proj"))), null, "golden"), 3)) {
            // B ≠ 0, so A gets a gradient too.
            java.util.Random rng = new java.util.Random(5);
            for (Parameter p : m.parameters()) if (p.name().contains("lora_B")) for (int i = 0; i < p.size(); i++) p.value()[i] = (float) (rng.nextGaussian() * 0.05);
            m.forwardBackward(batch);
            for (String name : new String[]{Q + ".lora_A.weight", Q + ".lora_B.weight", "model.layers.0.mlp.down_proj.lora_A.weight"}) {
                Parameter p = m.parameters().get(name);
                float[] grad = p.grad().clone();
                int largest = 0;
                for (int i = 1; i < grad.length; i++) if (Math.abs(grad[i]) > Math.abs(grad[largest])) largest = i;
                for (int i : new int[]{largest, 0, grad.length / 2}) {
                    float saved = p.value()[i];
                    float h = 1e-2f;
                    p.value()[i] = saved + h;
                    m.parameters().zeroGrad();
                    double plus = m.forwardBackward(batch).loss();
                    p.value()[i] = saved - h;
                    m.parameters().zeroGrad();
                    double minus = m.forwardBackward(batch).loss();
                    p.value()[i] = saved;
                    double numeric = (plus - minus) / (2 * h);
                    assertThat((double) grad[i]).as(name + "[" + i + "]").isCloseTo(numeric, within(2e-3 + 0.02 * Math.abs(numeric)));
                }
            }
        }
    }
}
