package io.instella.model.lm;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;
import io.instella.model.config.InstellaConfig;
import io.instella.model.testing.GoldenCase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The language model alone against the golden cases: image rows are taken from the golden
 * merged_features, so this isolates the OLMo forward from the vision path.
 */
class OlmoGoldenTest {
    static Checkpoint ckpt;
    static OlmoModel lm;

    @BeforeAll
    static void load() {
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        ckpt = Checkpoint.open(Golden.resolve("model"));
        lm = new OlmoModel(cfg.text(), ckpt);
    }

    @AfterAll
    static void close() {
        if (ckpt != null) ckpt.close();
    }

    static List<GoldenCase> cases() { return GoldenCase.all(); }

    @ParameterizedTest
    @MethodSource("cases")
    void finalHiddenLogitsAndGreedyMatch(GoldenCase c) {
        int h = lm.config().hiddenSize();
        int[] ids = c.inputIds();
        float[] embeds;
        int L;
        try (SafeTensorsFile t = c.tensors()) {
            float[] merged = null;
            int nImg = 0;
            if (c.image() != null) {
                try (SafeTensorsFile img = SafeTensorsFile.open(Golden.resolve("images/" + c.image() + ".safetensors"))) {
                    merged = img.tensor("merged_features").toFloatArray();
                    nImg = merged.length / h;
                }
            }
            L = ids.length - (c.image() != null ? 1 : 0) + nImg;
            embeds = new float[L * h];
            int row = 0;
            for (int id : ids) {
                if (id == -200) {
                    System.arraycopy(merged, 0, embeds, row * h, nImg * h);
                    row += nImg;
                } else {
                    lm.embed(new int[]{id}, 0, 1, embeds, row++);
                }
            }
            assertThat(row).isEqualTo(c.json().get("sequence_length_after_merge") == null ? L : c.json().get("sequence_length_after_merge").asInt());

            KVCache cache = lm.newCache(L + 32);
            float[] hidden = lm.forward(embeds, L, cache);
            float[] expHidden = t.tensor("final_hidden").toFloatArray();
            assertThat(hidden.length).isEqualTo(expHidden.length);
            assertThat(maxAbsDiff(hidden, expHidden)).as("final_hidden max |diff|").isLessThan(2e-3);

            float[] logitsLast = lm.logits(hidden, L - 1);
            assertThat(maxAbsDiff(logitsLast, t.tensor("logits_last").toFloatArray())).as("logits_last max |diff|").isLessThan(2e-3);

            long[] cols = t.tensor("logit_col_ids").toLongArray();
            float[] expCols = t.tensor("logits_cols").toFloatArray();
            float[] all = lm.logitsAll(hidden, L);
            int V = lm.config().vocabSize();
            double worst = 0;
            for (int p = 0; p < L; p++) {
                for (int j = 0; j < cols.length; j++) {
                    worst = Math.max(worst, Math.abs(all[p * V + (int) cols[j]] - expCols[p * cols.length + j]));
                }
            }
            assertThat(worst).as("logits at every position, kept columns").isLessThan(2e-3);
            if (t.contains("logits_full")) {
                assertThat(maxAbsDiff(all, t.tensor("logits_full").toFloatArray())).as("logits_full").isLessThan(2e-3);
            }

            // Greedy continuation with the KV cache, no early stop.
            int[] expected = c.greedyIds();
            int steps = c.robustGreedySteps();
            float[] logits = logitsLast;
            float[] one = new float[h];
            for (int s = 0; s < steps; s++) {
                int next = argmax(logits);
                assertThat(next).as("greedy step " + s).isEqualTo(expected[s]);
                lm.embed(new int[]{next}, 0, 1, one, 0);
                float[] hs = lm.forward(one, 1, cache);
                logits = lm.logits(hs, 0);
            }
        }
    }

    static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertThat(a.length).isEqualTo(b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
