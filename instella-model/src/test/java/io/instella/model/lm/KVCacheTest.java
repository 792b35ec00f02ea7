package io.instella.model.lm;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.config.InstellaConfig;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The head-major KV cache: growth, half-float storage, batched decode and the type chosen by default. */
class KVCacheTest {
    private static final int PROMPT = 40, STEPS = 30;

    /** Final hidden states of a prompt (prefill, blocked attention) and then STEPS decode steps, one cache. */
    private static float[][] run(OlmoModel lm, KVCache cache, int[] ids) {
        int h = lm.config().hiddenSize();
        float[] e = new float[PROMPT * h];
        lm.embed(ids, 0, PROMPT, e, 0);
        float[][] out = new float[STEPS + 1][];
        float[] prefill = lm.forward(e, PROMPT, cache);
        out[0] = java.util.Arrays.copyOfRange(prefill, (PROMPT - 1) * h, PROMPT * h);
        float[] x = new float[h];
        for (int i = 0; i < STEPS; i++) {
            lm.embed(ids, PROMPT + i, 1, x, 0);
            out[i + 1] = lm.forward(x, 1, cache);
        }
        return out;
    }

    private static int[] ids(int n, int vocab) {
        SplittableRandom r = new SplittableRandom(3);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(vocab);
        return ids;
    }

    @Test
    void aGrowingCacheGivesTheSameResultsAsOneAllocatedWhole() {
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        try (Checkpoint ck = Checkpoint.open(Golden.resolve("model"))) {
            OlmoModel lm = new OlmoModel(cfg.text(), ck);
            int[] ids = ids(PROMPT + STEPS, cfg.text().vocabSize());
            int h = cfg.text().hiddenSize(), before = 230;
            float[] filler = new float[before * h];
            lm.embed(ids(before, cfg.text().vocabSize()), 0, before, filler, 0);
            for (DType type : new DType[]{DType.F32, DType.F16}) {
                KVCache whole = lm.newCache(before + PROMPT + STEPS, type);
                // A bound above KVCache.WHOLE_UP_TO starts at 256 positions and grows: the prompt and the
                // decode steps below cross that capacity, so the cache is re-laid out midway.
                KVCache growing = lm.newCache(KVCache.WHOLE_UP_TO + 1, type);
                lm.forward(filler, before, whole);
                lm.forward(filler, before, growing);
                float[][] a = run(lm, whole, ids), b = run(lm, growing, ids);
                for (int i = 0; i < a.length; i++) assertThat(b[i]).as("%s step %d", type, i).containsExactly(a[i]);
                assertThat(growing.length()).isEqualTo(before + PROMPT + STEPS);
                assertThat(growing.bytes()).isLessThan(lm.newCache(KVCache.WHOLE_UP_TO, type).bytes());
            }
        }
    }

    @Test
    void halfFloatCacheStaysCloseToTheFloatCache() {
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        try (Checkpoint ck = Checkpoint.open(Golden.resolve("model"))) {
            OlmoModel lm = new OlmoModel(cfg.text(), ck);
            int[] ids = ids(PROMPT + STEPS, cfg.text().vocabSize());
            float[][] f32 = run(lm, lm.newCache(PROMPT + STEPS, DType.F32), ids);
            float[][] f16 = run(lm, lm.newCache(PROMPT + STEPS, DType.F16), ids);
            double err = 0, ref = 0;
            for (int i = 0; i < f32.length; i++) {
                float[] la = lm.logits(f32[i], 0), lb = lm.logits(f16[i], 0);
                for (int j = 0; j < la.length; j++) {
                    err += (la[j] - lb[j]) * (double) (la[j] - lb[j]);
                    ref += la[j] * (double) la[j];
                }
                assertThat(argmax(lb)).as("step %d", i).isEqualTo(argmax(la));
            }
            // Halves keep 11 significant bits: the logits move by about 1e-3 of their RMS.
            assertThat(Math.sqrt(err / ref)).isLessThan(5e-3).isGreaterThan(0);
            assertThat(lm.newCache(8, DType.F16).bytes()).isEqualTo(lm.newCache(8, DType.F32).bytes() / 2);
        }
    }

    @Test
    void batchedDecodeReadsHalfFloatCachesLikeSingleSteps() {
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        try (Checkpoint ck = Checkpoint.open(Golden.resolve("model"))) {
            OlmoModel lm = new OlmoModel(cfg.text(), ck);
            lm.setCacheType(DType.F16);
            int h = cfg.text().hiddenSize();
            int[][] prompts = {{50279, 29, 93, 4537}, {50279, 12092, 13, 1533, 2, 187, 15, 8, 9, 10}};
            KVCache[] batched = new KVCache[2];
            float[] expected = new float[2 * h];
            for (int s = 0; s < 2; s++) {
                KVCache solo = lm.newCache(32);
                batched[s] = lm.newCache(32);
                assertThat(solo.type()).isEqualTo(DType.F16);
                float[] e = new float[prompts[s].length * h];
                lm.embed(prompts[s], 0, prompts[s].length, e, 0);
                lm.forward(e, prompts[s].length, solo);
                lm.forward(e, prompts[s].length, batched[s]);
                float[] one = new float[h];
                lm.embed(new int[]{42}, 0, 1, one, 0);
                System.arraycopy(lm.forward(one, 1, solo), 0, expected, s * h, h);
            }
            float[] in = new float[2 * h];
            lm.embed(new int[]{42, 42}, 0, 2, in, 0);
            float[] got = lm.forwardBatch(in, batched);
            for (int i = 0; i < got.length; i++) assertThat(Math.abs(got[i] - expected[i])).isLessThan(1e-4f);
        }
    }

    @Test
    void quantizedWeightsDefaultToAHalfFloatCache() {
        try (InstellaVL stored = InstellaVL.load(Golden.resolve("model"), null);
             InstellaVL q8 = InstellaVL.load(Golden.resolve("model"), DType.Q8_0)) {
            assertThat(stored.languageModel().cacheType()).isEqualTo(DType.F32);
            assertThat(q8.languageModel().cacheType()).isEqualTo(DType.F16);
        }
        assertThat(InstellaVL.kvCacheType("F16")).isEqualTo(DType.F16);
        assertThatThrownBy(() -> InstellaVL.kvCacheType("q8_0")).isInstanceOf(InstellaException.class).hasMessageContaining("f16 or f32");
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        assertThatThrownBy(() -> new KVCache(cfg.text(), 8, DType.BF16)).isInstanceOf(IllegalArgumentException.class);
    }

    private static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }
}
