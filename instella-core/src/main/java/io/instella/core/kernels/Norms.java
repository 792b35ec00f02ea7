package io.instella.core.kernels;

/** Layer normalisation over the last dimension, in float32 as PyTorch computes it. */
public final class Norms {
    private Norms() {}

    /**
     * LayerNorm of each of the n rows of x (width d) into out; weight/bias may be null (OLMo's
     * non-parametric LayerNorm). x and out may be the same array.
     */
    public static void layerNorm(float[] x, float[] out, int n, int d, float[] weight, float[] bias, float eps) {
        Parallel.forRange(n, Math.max(1, 16384 / Math.max(1, d)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) layerNormRow(x, out, r * d, d, weight, bias, eps);
        });
    }

    static void layerNormRow(float[] x, float[] out, int off, int d, float[] weight, float[] bias, float eps) {
        // Two-pass mean/variance in double for stability; the reference's float32 result agrees to ~1 ulp.
        double sum = 0;
        for (int i = 0; i < d; i++) sum += x[off + i];
        float mean = (float) (sum / d);
        double sq = 0;
        for (int i = 0; i < d; i++) {
            float c = x[off + i] - mean;
            sq += (double) c * c;
        }
        float rstd = (float) (1.0 / Math.sqrt(sq / d + eps));
        for (int i = 0; i < d; i++) {
            float v = (x[off + i] - mean) * rstd;
            if (weight != null) v = v * weight[i];
            if (bias != null) v = v + bias[i];
            out[off + i] = v;
        }
    }
}
