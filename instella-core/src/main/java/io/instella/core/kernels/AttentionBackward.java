package io.instella.core.kernels;

/**
 * Backward of softmax attention {@code O = softmax(scale·QKᵀ [+ causal mask]) V} for one sequence, all heads,
 * recomputing the probabilities row by row from Q and K (nothing of the forward is kept, as in
 * FlashAttention's backward): with {@code dP = dO Vᵀ} and {@code D_i = Σ_j P_ij dP_ij},
 * {@code dS = P ∘ (dP − D)}, {@code dQ = scale·dS K}, {@code dK = scale·dSᵀ Q}, {@code dV = Pᵀ dO}.
 * Grouped-query heads share their key/value head; work is split by key/value head, so no two threads write the
 * same dK/dV rows and the sums run in a fixed order.
 */
public final class AttentionBackward {
    private AttentionBackward() {}

    /**
     * @param q       queries, row i of head h at {@code qOff + i*qStride + h*hd}; dOut and dQ use the same layout
     * @param k       keys, row j of kv head g at {@code kvOff + j*kvStride + g*hd}; v, dK and dV use the same layout
     * @param n       rows (queries = keys: self-attention over one sequence or one tile)
     * @param causal  row i attends to keys 0..i (else to all n)
     * @param dQ      overwritten for the n rows of every head; dK and dV are accumulated into (zero them first)
     */
    public static void backward(float[] q, int qOff, int qStride, float[] k, float[] v, int kvOff, int kvStride, int n,
                                boolean causal, int heads, int kvHeads, int hd, float scale,
                                float[] dOut, float[] dQ, float[] dK, float[] dV) {
        int group = heads / kvHeads;
        Parallel.forRange(kvHeads, 1, (g0, g1) -> {
            float[] p = new float[n];
            float[] dp = new float[n];
            for (int g = g0; g < g1; g++) {
                int kvHead = g * hd;
                for (int h = g * group; h < (g + 1) * group; h++) {
                    int qHead = h * hd;
                    for (int i = 0; i < n; i++) {
                        int qi = qOff + i * qStride + qHead;
                        int len = causal ? i + 1 : n;
                        float max = Float.NEGATIVE_INFINITY;
                        for (int j = 0; j < len; j++) {
                            float s = VectorMath.dot(q, qi, k, kvOff + j * kvStride + kvHead, hd) * scale;
                            p[j] = s;
                            if (s > max) max = s;
                        }
                        double sum = 0;
                        for (int j = 0; j < len; j++) {
                            float e = (float) Math.exp(p[j] - max);
                            p[j] = e;
                            sum += e;
                        }
                        float inv = (float) (1.0 / sum);
                        double d = 0;
                        for (int j = 0; j < len; j++) {
                            p[j] *= inv;
                            dp[j] = VectorMath.dot(dOut, qi, v, kvOff + j * kvStride + kvHead, hd);
                            d += (double) p[j] * dp[j];
                        }
                        float dd = (float) d;
                        java.util.Arrays.fill(dQ, qi, qi + hd, 0f);
                        for (int j = 0; j < len; j++) {
                            int kj = kvOff + j * kvStride + kvHead;
                            float ds = p[j] * (dp[j] - dd) * scale;
                            VectorMath.axpy(ds, k, kj, dQ, qi, hd);
                            VectorMath.axpy(ds, q, qi, dK, kj, hd);
                            VectorMath.axpy(p[j], dOut, qi, dV, kj, hd);
                        }
                    }
                }
            }
        });
    }
}
