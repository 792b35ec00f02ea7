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

    /**
     * Backward of {@link #layerNorm} for n rows: dx (+)= d(LN(x))/dx · dy, recomputing each row's mean and rstd from
     * x exactly as the forward does; dWeight/dBias (may be null) accumulate Σ_rows dy·x̂ and Σ_rows dy. The
     * per-column sums are reduced in row order (per-thread partials added in a fixed order), so the result does not
     * depend on the thread count.
     *
     * @param accumulate add into dx instead of overwriting it
     */
    public static void layerNormBackward(float[] x, float[] dy, float[] dx, int n, int d, float[] weight,
                                         float[] dWeight, float[] dBias, float eps, boolean accumulate) {
        boolean params = dWeight != null || dBias != null;
        int chunks = params ? Math.max(1, Math.min(n, 64)) : n;
        int rowsPerChunk = (n + chunks - 1) / Math.max(1, chunks);
        int nChunks = (n + rowsPerChunk - 1) / Math.max(1, rowsPerChunk);
        float[][] partW = params ? new float[nChunks][] : null, partB = params ? new float[nChunks][] : null;
        Parallel.forRange(nChunks, 1, (c0, c1) -> {
            float[] xhat = new float[d];
            for (int c = c0; c < c1; c++) {
                float[] pw = params && dWeight != null ? new float[d] : null, pb = params && dBias != null ? new float[d] : null;
                for (int r = c * rowsPerChunk; r < Math.min(n, (c + 1) * rowsPerChunk); r++) {
                    int off = r * d;
                    double sum = 0;
                    for (int i = 0; i < d; i++) sum += x[off + i];
                    float mean = (float) (sum / d);
                    double sq = 0;
                    for (int i = 0; i < d; i++) {
                        float cc = x[off + i] - mean;
                        sq += (double) cc * cc;
                    }
                    float rstd = (float) (1.0 / Math.sqrt(sq / d + eps));
                    double sumG = 0, sumGX = 0;
                    for (int i = 0; i < d; i++) {
                        float xh = (x[off + i] - mean) * rstd;
                        xhat[i] = xh;
                        float g = weight != null ? dy[off + i] * weight[i] : dy[off + i];
                        sumG += g;
                        sumGX += (double) g * xh;
                        if (pw != null) pw[i] += dy[off + i] * xh;
                        if (pb != null) pb[i] += dy[off + i];
                    }
                    float meanG = (float) (sumG / d), meanGX = (float) (sumGX / d);
                    for (int i = 0; i < d; i++) {
                        float g = weight != null ? dy[off + i] * weight[i] : dy[off + i];
                        float v = rstd * (g - meanG - xhat[i] * meanGX);
                        dx[off + i] = accumulate ? dx[off + i] + v : v;
                    }
                }
                if (params) {
                    partW[c] = pw;
                    partB[c] = pb;
                }
            }
        });
        if (params) {
            for (int c = 0; c < nChunks; c++) {
                if (dWeight != null) VectorMath.addInPlace(dWeight, partW[c], d);
                if (dBias != null) VectorMath.addInPlace(dBias, partB[c], d);
            }
        }
    }
}
