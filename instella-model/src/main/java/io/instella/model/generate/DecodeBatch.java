package io.instella.model.generate;

import io.instella.core.kernels.Parallel;
import io.instella.model.lm.KVCache;
import io.instella.model.lm.OlmoModel;

import java.util.Arrays;
import java.util.List;

/**
 * One decode step for several sessions together (continuous batching): their pending tokens go through
 * the language model as the rows of one batched forward pass ({@link OlmoModel#forwardBatch}), so each
 * weight matrix is read once for all of them; then each session samples its next token.
 */
public final class DecodeBatch {
    private DecodeBatch() {}

    /** Advances every session (all in state DECODE, each on its own cache) by one token. */
    public static void step(OlmoModel lm, List<GenerationSession> sessions) {
        int n = sessions.size();
        if (n == 0) return;
        if (n == 1) {
            sessions.getFirst().decodeOne();
            return;
        }
        int h = lm.config().hiddenSize(), vocab = lm.config().vocabSize();
        int[] ids = new int[n];
        KVCache[] caches = new KVCache[n];
        for (int i = 0; i < n; i++) {
            GenerationSession s = sessions.get(i);
            ids[i] = s.pendingToken();
            caches[i] = s.cache();
            for (int j = 0; j < i; j++) {
                if (caches[j] == caches[i]) throw new IllegalArgumentException("two sessions of one batch share a KV cache");
            }
        }
        float[] x = new float[n * h];
        lm.embed(ids, 0, n, x, 0);
        float[] hidden = lm.forwardBatch(x, caches);
        float[] logits = lm.logitsAll(hidden, n);
        // Sampling, stop strings and log-probabilities are per session and independent: spread them out.
        Parallel.forRange(n, 1, (a, b) -> {
            for (int i = a; i < b; i++) {
                sessions.get(i).acceptLogits(Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab));
            }
        });
    }
}
