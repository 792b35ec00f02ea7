package io.instella.train.optim;

import io.instella.core.kernels.Parallel;
import io.instella.core.tensor.DType;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class AdamWTest {

    private static ParameterSet params(long seed, int n, String... names) {
        Random r = new Random(seed);
        ParameterSet set = new ParameterSet();
        for (String name : names) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
            set.add(new Parameter(name, new long[]{n}, DType.F32, v));
        }
        return set;
    }

    private static void randomGrads(ParameterSet set, long seed) {
        Random r = new Random(seed);
        for (Parameter p : set) {
            float[] g = p.gradForAccumulation();
            for (int i = 0; i < g.length; i++) g[i] = (float) (r.nextGaussian() * 0.1);
        }
    }

    @Test
    void oneElementByHandInDouble() {
        ParameterSet set = new ParameterSet();
        set.add(new Parameter("w", new long[]{1}, DType.F32, new float[]{0.5f}));
        AdamW opt = new AdamW(set, AdamW.Options.defaults().withWeightDecay(0.1));
        set.get("w").gradForAccumulation()[0] = 0.2f;
        opt.step(0.01);
        // t = 1: m = 0.1 g, v = 0.001 g^2, update = lr * m/bc1 / (sqrt(v/bc2) + eps) = lr * g / (|g| + eps)
        double p = 0.5 * (1 - 0.01 * 0.1);
        double expected = p - 0.01 * 0.2 / (0.2 + 1e-8);
        assertThat(set.get("w").value()[0]).isCloseTo((float) expected, within(1e-7f));
        assertThat(opt.state("w").expAvg()[0]).isCloseTo(0.02f, within(1e-9f));
        assertThat(opt.state("w").expAvgSq()[0]).isCloseTo(4e-5f, within(1e-11f));
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        int before = Parallel.threads();
        try {
            float[][] results = new float[2][];
            int[] threads = {1, 3};
            for (int k = 0; k < 2; k++) {
                Parallel.setThreads(threads[k]);
                ParameterSet set = params(1, 100_003, "a.weight", "b.weight");
                AdamW opt = new AdamW(set, AdamW.Options.defaults().withWeightDecay(0.01));
                for (int step = 0; step < 3; step++) {
                    randomGrads(set, 10 + step);
                    GradientClipping.clipGlobalNorm(set, 1.0);
                    opt.step(1e-3);
                }
                results[k] = set.get("b.weight").value().clone();
            }
            assertThat(results[1]).isEqualTo(results[0]);
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void parameterWithoutGradientIsSkippedAndItsStepDoesNotAdvance() {
        ParameterSet set = params(2, 16, "a.weight", "b.weight");
        float[] bBefore = set.get("b.weight").value().clone();
        AdamW opt = new AdamW(set, AdamW.Options.defaults());
        set.get("a.weight").gradForAccumulation()[3] = 1f;
        opt.step(1e-3);
        opt.step(1e-3);
        assertThat(opt.state("a.weight").step()).isEqualTo(2);
        assertThat(opt.state("b.weight")).isNull();
        assertThat(set.get("b.weight").value()).isEqualTo(bBefore);
        set.get("b.weight").gradForAccumulation()[0] = 1f;
        opt.step(1e-3);
        assertThat(opt.state("b.weight").step()).isEqualTo(1);
        assertThat(opt.state("a.weight").step()).isEqualTo(3);
    }

    @Test
    void hfNoDecaySplitExcludesBiasesAndLayerNormParameters() {
        String v = "model.vision_tower.vision_tower.vision_model.";
        assertThat(AdamW.hfDecayRule("model.mm_projector.0.weight")).isTrue();
        assertThat(AdamW.hfDecayRule("model.mm_projector.0.bias")).isFalse();
        assertThat(AdamW.hfDecayRule(v + "encoder.layers.0.layer_norm1.weight")).isFalse();
        assertThat(AdamW.hfDecayRule(v + "encoder.layers.0.layer_norm2.bias")).isFalse();
        assertThat(AdamW.hfDecayRule(v + "pre_layrnorm.weight")).isFalse();
        assertThat(AdamW.hfDecayRule(v + "post_layernorm.weight")).isFalse();
        assertThat(AdamW.hfDecayRule(v + "embeddings.class_embedding")).isTrue();
        assertThat(AdamW.hfDecayRule(v + "embeddings.patch_embedding.weight")).isTrue();
        assertThat(AdamW.hfDecayRule("model.image_newline")).isTrue();
        assertThat(AdamW.hfDecayRule("model.embed_tokens.weight")).isTrue();
        assertThat(AdamW.hfDecayRule("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")).isTrue();

        // and the split is applied: a bias with zero gradient does not shrink, a weight does
        ParameterSet set = new ParameterSet();
        set.add(new Parameter("m.0.weight", new long[]{1}, DType.F32, new float[]{1f}));
        set.add(new Parameter("m.0.bias", new long[]{1}, DType.F32, new float[]{1f}));
        set.forEach(Parameter::gradForAccumulation);
        new AdamW(set, AdamW.Options.defaults().withWeightDecay(0.5)).step(0.1);
        assertThat(set.get("m.0.weight").value()[0]).isEqualTo((float) (1 - 0.1 * 0.5));
        assertThat(set.get("m.0.bias").value()[0]).isEqualTo(1f);
    }

    @Test
    void bf16MomentsStayCloseToFloat32AndAreRoundedToBf16() {
        ParameterSet a = params(3, 4096, "w.weight"), b = params(3, 4096, "w.weight");
        AdamW f32 = new AdamW(a, AdamW.Options.defaults());
        AdamW bf16 = new AdamW(b, AdamW.Options.defaults().withMomentPrecision(AdamW.MomentPrecision.BF16));
        assertThat(bf16.stateBytes()).isEqualTo(a.numel() * 4);
        for (int step = 0; step < 20; step++) {
            randomGrads(a, step);
            randomGrads(b, step);
            f32.step(1e-3);
            bf16.step(1e-3);
        }
        float[] m = bf16.state("w.weight").expAvg();
        for (float x : m) assertThat(Float.floatToRawIntBits(x) & 0xFFFF).isZero();
        assertThat(bf16.state("w.weight").momentType()).isEqualTo(DType.BF16);
        double worst = 0;
        for (int i = 0; i < 4096; i++) worst = Math.max(worst, Math.abs(a.get("w.weight").value()[i] - b.get("w.weight").value()[i]));
        // 20 steps of at most lr each: the two runs differ by a small fraction of the distance travelled
        assertThat(worst).isLessThan(20 * 1e-3 * 0.1);
    }

    @Test
    void bf16MomentsFollowTheScalarDefinitionToTheBit() {
        for (double wd : new double[]{0.0, 0.05}) {
            int n = 1003; // whole vectors and a tail
            ParameterSet set = params(8, n, "w.weight");
            float[] p = set.get("w.weight").value().clone();
            short[] m = new short[n], v = new short[n];
            AdamW opt = new AdamW(set, AdamW.Options.defaults().withWeightDecay(wd).withMomentPrecision(AdamW.MomentPrecision.BF16));
            for (int t = 1; t <= 5; t++) {
                randomGrads(set, 20 + t);
                float[] g = set.get("w.weight").grad();
                g[7] = Float.NaN; // a NaN stays a (quiet) NaN in the moments
                double lr = 1e-3 * t;
                opt.step(lr);
                float decay = (float) (1 - lr * wd), b1 = 0.9f, omb1 = (float) (1 - 0.9), b2 = 0.999f, omb2 = (float) (1 - 0.999);
                float bc2 = (float) Math.sqrt(1 - Math.pow(0.999, t)), neg = (float) -(lr / (1 - Math.pow(0.9, t)));
                for (int i = 0; i < n; i++) {
                    float pi = wd != 0 ? p[i] * decay : p[i];
                    float mi = Math.fma(g[i], omb1, io.instella.core.tensor.Tensor.bf16ToFloat(m[i]) * b1);
                    float vi = Math.fma(omb2 * g[i], g[i], io.instella.core.tensor.Tensor.bf16ToFloat(v[i]) * b2);
                    m[i] = io.instella.core.tensor.Tensor.floatToBf16(mi);
                    v[i] = io.instella.core.tensor.Tensor.floatToBf16(vi);
                    p[i] = pi + (neg * mi) / ((float) Math.sqrt(vi) / bc2 + 1e-8f);
                }
                set.zeroGrad();
            }
            float[] actual = set.get("w.weight").value();
            for (int i = 0; i < n; i++) {
                assertThat(Float.floatToRawIntBits(actual[i])).as("wd " + wd + " element " + i).isEqualTo(Float.floatToRawIntBits(p[i]));
            }
            float[] mExpected = new float[n];
            for (int i = 0; i < n; i++) mExpected[i] = io.instella.core.tensor.Tensor.bf16ToFloat(m[i]);
            assertThat(opt.state("w.weight").expAvg()).usingElementComparator((a, b) -> Integer.compare(
                    Float.floatToRawIntBits(a), Float.floatToRawIntBits(b))).containsExactly(mExpected);
        }
    }

    @Test
    void restoredStateContinuesBitIdentically() {
        for (AdamW.MomentPrecision precision : AdamW.MomentPrecision.values()) {
            AdamW.Options options = AdamW.Options.defaults().withWeightDecay(0.01).withMomentPrecision(precision);
            ParameterSet a = params(4, 1000, "x.weight", "x.bias");
            AdamW straight = new AdamW(a, options);
            for (int s = 0; s < 4; s++) {
                randomGrads(a, s);
                straight.step(1e-3 * (s + 1));
            }

            ParameterSet b = params(4, 1000, "x.weight", "x.bias");
            AdamW first = new AdamW(b, options);
            for (int s = 0; s < 2; s++) {
                randomGrads(b, s);
                first.step(1e-3 * (s + 1));
            }
            ParameterSet c = new ParameterSet();
            for (Parameter p : b) c.add(new Parameter(p.name(), p.shape(), DType.F32, p.value().clone()));
            AdamW resumed = new AdamW(c, options);
            first.states().forEach((name, st) -> resumed.restore(name, st.step(), st.expAvgTensor("m"), st.expAvgSqTensor("v")));
            for (int s = 2; s < 4; s++) {
                randomGrads(c, s);
                resumed.step(1e-3 * (s + 1));
            }
            for (Parameter p : a) assertThat(c.get(p.name()).value()).as(precision + " " + p.name()).isEqualTo(p.value());
        }
    }

    @Test
    void restoreRejectsAStateOfTheWrongShape() {
        ParameterSet set = params(5, 8, "x.weight");
        AdamW opt = new AdamW(set, AdamW.Options.defaults());
        var wrong = io.instella.core.tensor.Tensor.ofFloats("exp_avg.x.weight", new float[4], 4);
        assertThatThrownBy(() -> opt.restore("x.weight", 1, wrong, wrong)).hasMessageContaining("shape [4]").hasMessageContaining("[8]");
        assertThatThrownBy(() -> opt.restore("y.weight", 1, wrong, wrong)).hasMessageContaining("not a trained parameter");
    }

    @Test
    void clippingLeavesSmallGradientsAloneAndScalesLargeOnes() {
        ParameterSet set = params(6, 4, "x.weight");
        float[] g = set.get("x.weight").gradForAccumulation();
        g[0] = 3f;
        g[1] = 4f;
        assertThat(GradientClipping.clipGlobalNorm(set, 10.0)).isEqualTo(5.0);
        assertThat(g[0]).isEqualTo(3f);
        assertThat(GradientClipping.clipGlobalNorm(set, 1.0)).isEqualTo(5.0);
        assertThat(g[0]).isEqualTo(3f * (1f / (5f + 1e-6f)));
        assertThat(GradientClipping.clipGlobalNorm(new ParameterSet(), 1.0)).isZero();
    }
}
