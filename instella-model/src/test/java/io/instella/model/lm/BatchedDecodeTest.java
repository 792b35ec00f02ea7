package io.instella.model.lm;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.testing.Golden;
import io.instella.model.config.InstellaConfig;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** A batched decode step over sequences at different positions equals separate single-sequence steps. */
class BatchedDecodeTest {
    @Test
    void batchEqualsSeparateSteps() {
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        try (Checkpoint ck = Checkpoint.open(Golden.resolve("model"))) {
            OlmoModel lm = new OlmoModel(cfg.text(), ck);
            int h = cfg.text().hiddenSize();
            int[][] prompts = {{50279, 29, 93, 4537}, {50279, 12092, 13, 1533, 2, 187, 15}, {7}};
            int[] next = {10, 20, 30};
            KVCache[] batched = new KVCache[3];
            float[] expected = new float[3 * h];
            for (int s = 0; s < 3; s++) {
                KVCache solo = lm.newCache(64);
                batched[s] = lm.newCache(64);
                float[] e = new float[prompts[s].length * h];
                lm.embed(prompts[s], 0, prompts[s].length, e, 0);
                lm.forward(e, prompts[s].length, solo);
                lm.forward(e, prompts[s].length, batched[s]);
                float[] one = new float[h];
                lm.embed(next, s, 1, one, 0);
                System.arraycopy(lm.forward(one, 1, solo), 0, expected, s * h, h);
            }
            float[] in = new float[3 * h];
            lm.embed(next, 0, 3, in, 0);
            float[] got = lm.forwardBatch(in, batched);
            for (int i = 0; i < got.length; i++) assertThat(Math.abs(got[i] - expected[i])).isLessThan(1e-4f);
            for (int s = 0; s < 3; s++) assertThat(batched[s].length()).isEqualTo(prompts[s].length + 1);
        }
    }
}
