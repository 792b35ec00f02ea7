package io.instella.model.generate;

import io.instella.model.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/** Log-probabilities of a step's raw logits (before any sampling filter), as the OpenAI API reports them. */
final class Logprobs {
    private Logprobs() {}

    /**
     * The chosen token's log-probability and the {@code top} most likely tokens, most likely first; equal
     * values keep the lower id first. Selection keeps a small sorted list instead of sorting the vocabulary.
     */
    static TokenLogprob of(float[] logits, int allowed, int chosen, int top, Tokenizer tok) {
        double[] lp = Sampler.logSoftmax(logits, allowed);
        List<TokenLogprob.Alternative> alts = new ArrayList<>();
        if (top > 0) {
            int k = Math.min(top, allowed);
            int[] best = new int[k];
            int size = 0;
            for (int i = 0; i < allowed; i++) {
                double v = lp[i];
                if (size == k && !(v > lp[best[k - 1]])) continue;
                int pos = size == k ? k - 1 : size++;
                // ties: an earlier (lower) id stays ahead, so only move past strictly smaller values
                while (pos > 0 && lp[best[pos - 1]] < v) {
                    best[pos] = best[pos - 1];
                    pos--;
                }
                best[pos] = i;
            }
            for (int i = 0; i < size; i++) {
                alts.add(new TokenLogprob.Alternative(best[i], tok.decode(new int[]{best[i]}, false), lp[best[i]]));
            }
        }
        return new TokenLogprob(chosen, tok.decode(new int[]{chosen}, false), lp[chosen], alts);
    }
}
