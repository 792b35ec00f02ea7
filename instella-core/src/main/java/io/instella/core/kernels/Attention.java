package io.instella.core.kernels;

/**
 * Scaled dot-product attention for one query row of one head, over keys/values stored row-major with a
 * stride (a KV cache or a batch of tokens). Scores live in a caller-provided scratch row, so nothing of
 * size L×L is ever materialised.
 */
public final class Attention {
    private Attention() {}

    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[1024]);

    /** A per-thread scores buffer of at least n floats. */
    public static float[] scratch(int n) {
        float[] s = SCORES.get();
        if (s.length < n) {
            s = new float[Math.max(n, s.length * 2)];
            SCORES.set(s);
        }
        return s;
    }

    /**
     * out[outOff..+hd] = softmax_j(scale · q·k_j) · v_j for j in [0, len), where k_j starts at
     * kvOff + j·kvStride in k (and likewise in v).
     */
    public static void attendRow(float[] q, int qOff, float[] k, float[] v, int kvOff, int kvStride, int len,
                                 int hd, float scale, float[] out, int outOff) {
        float[] scores = scratch(len);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < len; j++) {
            float sc = VectorMath.dot(q, qOff, k, kvOff + j * kvStride, hd) * scale;
            scores[j] = sc;
            if (sc > max) max = sc;
        }
        float sum = 0;
        for (int j = 0; j < len; j++) {
            float e = (float) Math.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        java.util.Arrays.fill(out, outOff, outOff + hd, 0f);
        for (int j = 0; j < len; j++) {
            VectorMath.axpy(scores[j] * inv, v, kvOff + j * kvStride, out, outOff, hd);
        }
    }
}
