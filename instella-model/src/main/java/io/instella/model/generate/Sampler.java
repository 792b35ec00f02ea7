package io.instella.model.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits. Ids at or above {@code allowedVocab} (checkpoint rows the tokenizer
 * cannot decode) are never chosen. Sampling is reproducible for a given seed.
 */
public final class Sampler {
    private final GenerationOptions options;
    private final int allowedVocab;
    private final SplittableRandom random;

    public Sampler(GenerationOptions options, int allowedVocab) {
        this.options = options;
        this.allowedVocab = allowedVocab;
        this.random = options.seed() != null ? new SplittableRandom(options.seed()) : new SplittableRandom();
    }

    /**
     * @param logits    raw logits (left unchanged)
     * @param context   token ids the repetition penalty looks at (prompt text ids + generated)
     * @param contextLen number of valid entries in context
     * @param generated generated ids so far (frequency/presence penalties)
     */
    public int next(float[] logits, int[] context, int contextLen, int[] generated, int generatedLen) {
        int n = Math.min(allowedVocab, logits.length);
        float[] l = Arrays.copyOf(logits, n);
        applyPenalties(l, context, contextLen, generated, generatedLen);
        if (options.greedy()) return argmax(l, n);
        float t = (float) options.temperature();
        for (int i = 0; i < n; i++) l[i] /= t;
        if (options.topK() > 0 && options.topK() < n) topK(l, options.topK());
        double[] p = softmax(l);
        if (options.topP() < 1.0) topP(l, p, options.topP());
        if (options.minP() > 0) minP(p, options.minP());
        double total = 0;
        for (double v : p) total += v;
        double r = random.nextDouble() * total;
        double acc = 0;
        int last = -1;
        for (int i = 0; i < n; i++) {
            if (p[i] <= 0) continue;
            last = i;
            acc += p[i];
            if (r < acc) return i;
        }
        return last >= 0 ? last : argmax(l, n);
    }

    private void applyPenalties(float[] l, int[] context, int contextLen, int[] generated, int generatedLen) {
        double rp = options.repetitionPenalty();
        if (rp != 1.0 && context != null) {
            boolean[] seen = new boolean[l.length];
            for (int i = 0; i < contextLen; i++) {
                int id = context[i];
                if (id >= 0 && id < l.length && !seen[id]) {
                    seen[id] = true;
                    l[id] = (float) (l[id] < 0 ? l[id] * rp : l[id] / rp);
                }
            }
        }
        if ((options.frequencyPenalty() != 0 || options.presencePenalty() != 0) && generated != null) {
            int[] counts = new int[l.length];
            for (int i = 0; i < generatedLen; i++) if (generated[i] >= 0 && generated[i] < l.length) counts[generated[i]]++;
            for (int i = 0; i < l.length; i++) {
                if (counts[i] > 0) l[i] -= (float) (options.frequencyPenalty() * counts[i] + options.presencePenalty());
            }
        }
    }

    static int argmax(float[] l, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (l[i] > l[best]) best = i;
        return best;
    }

    /** Keeps the k largest (ties with the k-th value kept, as transformers does). */
    static void topK(float[] l, int k) {
        float[] sorted = l.clone();
        Arrays.sort(sorted);
        float kth = sorted[sorted.length - k];
        for (int i = 0; i < l.length; i++) if (l[i] < kth) l[i] = Float.NEGATIVE_INFINITY;
    }

    static double[] softmax(float[] l) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : l) max = Math.max(max, v);
        double[] p = new double[l.length];
        double sum = 0;
        for (int i = 0; i < l.length; i++) {
            p[i] = l[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(l[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    /**
     * transformers' TopPLogitsWarper: drop the low tail whose cumulative mass is <= 1 - top_p; keep at least one.
     * The tail is taken in ascending order of probability, equal probabilities in ascending id order (a stable
     * sort of the ids): sorting the values alone gives the same sums and the cut, and the ids at the cut's value
     * are dropped lowest first, so no boxed sort of the vocabulary is needed.
     */
    static void topP(float[] l, double[] p, double topP) {
        int n = p.length;
        double[] sorted = p.clone();
        Arrays.sort(sorted);
        double cum = 0;
        int drop = 0;
        for (int r = 0; r < n - 1; r++) {
            cum += sorted[r];
            if (cum <= 1 - topP) drop++;
            else break;
        }
        if (drop == 0) return;
        double cut = sorted[drop - 1];
        int atCut = 0;
        for (int r = drop - 1; r >= 0 && sorted[r] == cut; r--) atCut++;
        for (int i = 0; i < n; i++) {
            if (p[i] < cut || (p[i] == cut && atCut-- > 0)) {
                p[i] = 0;
                l[i] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    static void minP(double[] p, double minP) {
        double max = 0;
        for (double v : p) max = Math.max(max, v);
        double cut = minP * max;
        for (int i = 0; i < p.length; i++) if (p[i] < cut) p[i] = 0;
    }

    /** log-softmax over the allowed vocabulary of the raw logits. */
    public static double[] logSoftmax(float[] logits, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, logits[i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
        double lse = max + Math.log(sum);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = logits[i] - lse;
        return out;
    }
}
