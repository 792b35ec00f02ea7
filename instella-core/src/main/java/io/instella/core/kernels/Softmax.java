package io.instella.core.kernels;

/** Numerically stable softmax in place over a[off, off+n). */
public final class Softmax {
    private Softmax() {}

    public static void inPlace(float[] a, int off, int n) {
        float max = VectorMath.max(a, off, n);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(a[off + i] - max);
            a[off + i] = e;
            sum += e;
        }
        VectorMath.scale(a, off, n, 1.0f / sum);
    }
}
