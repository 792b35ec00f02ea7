package io.instella.model.generate;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SamplerTest {
    static final float[] LOGITS = {1f, 3f, 2f, 0.5f, 2.9f, -1f};

    @Test
    void greedyPicksArgmaxWithinTheTokenizerVocabulary() {
        Sampler s = new Sampler(GenerationOptions.greedy(1), LOGITS.length);
        assertThat(s.next(LOGITS, null, 0, null, 0)).isEqualTo(1);
        // ids beyond the tokenizer (checkpoint padding rows) are never chosen
        Sampler limited = new Sampler(GenerationOptions.greedy(1), 1);
        assertThat(limited.next(LOGITS, null, 0, null, 0)).isEqualTo(0);
    }

    @Test
    void sameSeedSameSamples() {
        GenerationOptions o = GenerationOptions.builder().temperature(1.5).seed(42L).build();
        int[] a = new int[50], b = new int[50];
        Sampler s1 = new Sampler(o, LOGITS.length), s2 = new Sampler(o, LOGITS.length);
        for (int i = 0; i < 50; i++) {
            a[i] = s1.next(LOGITS, null, 0, null, 0);
            b[i] = s2.next(LOGITS, null, 0, null, 0);
        }
        assertThat(a).containsExactly(b);
        Set<Integer> seen = new HashSet<>();
        for (int x : a) seen.add(x);
        assertThat(seen.size()).as("temperature 1.5 over 50 draws visits several tokens").isGreaterThan(2);
    }

    @Test
    void topKAndTopPAndMinPRestrictTheSupport() {
        for (int seed = 0; seed < 200; seed++) {
            int k = new Sampler(GenerationOptions.builder().temperature(1).topK(2).seed((long) seed).build(), 6).next(LOGITS, null, 0, null, 0);
            assertThat(k).isIn(1, 4);
            // softmax mass of token 1 + 4 is > 0.6: top_p 0.6 keeps just those two
            int p = new Sampler(GenerationOptions.builder().temperature(1).topP(0.6).seed((long) seed).build(), 6).next(LOGITS, null, 0, null, 0);
            assertThat(p).isIn(1, 4);
            // min_p 0.5: tokens with prob >= half of the max (ids 1, 4 and 2: e^2/e^3 = 0.37 < 0.5 → only 1 and 4)
            int m = new Sampler(GenerationOptions.builder().temperature(1).minP(0.5).seed((long) seed).build(), 6).next(LOGITS, null, 0, null, 0);
            assertThat(m).isIn(1, 4);
        }
    }

    @Test
    void repetitionPenaltyAsTransformers() {
        float[] l = {2f, 1.9f, -1f};
        Sampler s = new Sampler(GenerationOptions.builder().repetitionPenalty(2.0).build(), 3);
        // token 0 seen: 2 / 2 = 1 < 1.9 → greedy moves to token 1
        assertThat(s.next(l, new int[]{0}, 1, null, 0)).isEqualTo(1);
    }

    @Test
    void frequencyPenaltyCountsGeneratedTokens() {
        float[] l = {2f, 1.5f};
        Sampler s = new Sampler(GenerationOptions.builder().frequencyPenalty(0.3).build(), 2);
        assertThat(s.next(l, null, 0, new int[]{0}, 1)).isEqualTo(0);
        assertThat(s.next(l, null, 0, new int[]{0, 0}, 2)).isEqualTo(1);
    }

    @Test
    void invalidOptionsAreRefusedWithTheirName() {
        assertThatThrownBy(() -> GenerationOptions.builder().topP(0).build()).hasMessageContaining("top_p");
        assertThatThrownBy(() -> GenerationOptions.builder().temperature(-1).build()).hasMessageContaining("temperature");
        assertThatThrownBy(() -> GenerationOptions.builder().maxNewTokens(-1).build()).hasMessageContaining("max_new_tokens");
        assertThatThrownBy(() -> GenerationOptions.builder().stopStrings(List.of("")).build()).hasMessageContaining("stop");
    }

    /** The stable-sort formulation of transformers' top-p filter, as Sampler first had it. */
    static void topPBySortingIds(float[] l, double[] p, double topP) {
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(p[a], p[b]));
        double cum = 0;
        for (int r = 0; r < order.length - 1; r++) {
            cum += p[order[r]];
            if (cum <= 1 - topP) {
                p[order[r]] = 0;
                l[order[r]] = Float.NEGATIVE_INFINITY;
            } else {
                break;
            }
        }
    }

    @Test
    void topPDropsExactlyWhatAStableSortOfTheIdsDrops() {
        java.util.Random rnd = new java.util.Random(3);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + rnd.nextInt(400);
            float[] logits = new float[n];
            // few distinct values, so that the cut often falls inside a run of equal probabilities; some -inf
            for (int i = 0; i < n; i++) logits[i] = rnd.nextInt(8) == 0 ? Float.NEGATIVE_INFINITY : rnd.nextInt(6) * 0.5f;
            if (logits[0] == Float.NEGATIVE_INFINITY) logits[0] = 1;
            double top = new double[]{0.05, 0.3, 0.5, 0.9, 0.95, 0.999}[rnd.nextInt(6)];
            double[] p1 = Sampler.softmax(logits), p2 = p1.clone();
            float[] l1 = logits.clone(), l2 = logits.clone();
            Sampler.topP(l1, p1, top);
            topPBySortingIds(l2, p2, top);
            assertThat(p1).as("trial %d", trial).containsExactly(p2);
            assertThat(l1).containsExactly(l2);
        }
    }
}
