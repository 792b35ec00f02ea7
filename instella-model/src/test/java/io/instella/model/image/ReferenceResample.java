package io.instella.model.image;

/**
 * A deliberately naive second implementation of Pillow's 8-bit separable resampling, written from the formula
 * (spec §4.3), for cross-checking {@link PillowResize}: no precomputed windows (every source index is visited and
 * the kernel decides), the horizontal pass over every source row, both passes always run (an unchanged axis is
 * then an identity), 64-bit accumulation with floor division. Kept numerically identical where the fast path's
 * output depends on it: the kernel's Horner form, the argument {@code (x - center + 0.5) * (1 / filterscale)},
 * left-to-right sums, and the 22-bit coefficient rounding.
 */
final class ReferenceResample {
    private ReferenceResample() {}

    private static final double A = -0.5;
    private static final long ONE = 1L << 22;

    static double cubic(double t) {
        double x = Math.abs(t);
        if (x < 1.0) return ((A + 2.0) * x - (A + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * A;
        return 0.0;
    }

    /** Integer weights [out][in] (mostly zero) for resizing one axis from n to m samples. */
    static long[][] weights(int n, int m) {
        double scale = (double) n / m;
        double fs = Math.max(scale, 1.0);
        double inv = 1.0 / fs;
        long[][] w = new long[m][n];
        double[] raw = new double[n];
        for (int o = 0; o < m; o++) {
            double center = (o + 0.5) * scale;
            double sum = 0;
            for (int i = 0; i < n; i++) {
                raw[i] = cubic((i - center + 0.5) * inv);
                sum += raw[i];
            }
            for (int i = 0; i < n; i++) {
                double normalised = sum != 0.0 ? raw[i] / sum : raw[i];
                double fixed = normalised * ONE;
                w[o][i] = normalised < 0 ? (long) (fixed - 0.5) : (long) (fixed + 0.5);
            }
        }
        return w;
    }

    private static int toByte(long acc) {
        long v = Math.floorDiv(acc, ONE);
        return (int) Math.max(0, Math.min(255, v));
    }

    static RgbImage resize(RgbImage src, int outW, int outH) {
        int w = src.width();
        int h = src.height();
        long[][] wx = weights(w, outW);
        long[][] wy = weights(h, outH);
        int[][][] mid = new int[h][outW][3];
        for (int y = 0; y < h; y++) {
            for (int ox = 0; ox < outW; ox++) {
                for (int c = 0; c < 3; c++) {
                    long acc = ONE / 2;
                    for (int x = 0; x < w; x++) acc += wx[ox][x] * src.get(x, y, c);
                    mid[y][ox][c] = toByte(acc);
                }
            }
        }
        byte[] out = new byte[outW * outH * 3];
        for (int oy = 0; oy < outH; oy++) {
            for (int ox = 0; ox < outW; ox++) {
                for (int c = 0; c < 3; c++) {
                    long acc = ONE / 2;
                    for (int y = 0; y < h; y++) acc += wy[oy][y] * mid[y][ox][c];
                    out[(oy * outW + ox) * 3 + c] = (byte) toByte(acc);
                }
            }
        }
        return new RgbImage(outW, outH, out);
    }
}
