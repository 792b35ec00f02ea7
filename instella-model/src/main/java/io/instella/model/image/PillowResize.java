package io.instella.model.image;

/**
 * Pillow's {@code Image.resize(size, resample)} for 8-bit RGB images, reproduced bit for bit
 * ({@code libImaging/Resample.c}, Pillow 9.4 - 12): separable convolution with the filter stretched by the scale
 * factor when reducing, coefficients normalised in double and then quantised to 22 fraction bits
 * ({@code normalize_coeffs_8bpc}), integer accumulation starting at 2^21, clipping to 0..255. The horizontal pass
 * runs first, over only the source rows the vertical pass needs, and produces an 8-bit intermediate; a pass whose
 * size does not change is skipped, and an unchanged size returns a copy. The whole source is the box, and
 * {@code reducing_gap} is None (Pillow's default): no pre-reduction.
 *
 * <p>{@code Image.resize} without a {@code resample} argument uses BICUBIC for RGB images, which is what every
 * resize in the Instella pipeline does.
 */
public final class PillowResize {
    private PillowResize() {}

    /** Pillow's resampling filters (support in source pixels at scale 1, and the kernel). */
    public enum Filter {
        BOX(0.5) {
            @Override
            double kernel(double x) {
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            }
        },
        BILINEAR(1.0) {
            @Override
            double kernel(double x) {
                if (x < 0.0) x = -x;
                return x < 1.0 ? 1.0 - x : 0.0;
            }
        },
        /** Keys' cubic convolution with a = -0.5. */
        BICUBIC(2.0) {
            @Override
            double kernel(double x) {
                final double a = -0.5;
                if (x < 0.0) x = -x;
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            }
        },
        /**
         * Truncated sinc, 3 lobes. Uses {@link Math#sin}, which may differ from the C library's {@code sin} in the
         * last bit; only BICUBIC is checked against Pillow here.
         */
        LANCZOS(3.0) {
            @Override
            double kernel(double x) {
                if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
                return 0.0;
            }

            private static double sinc(double x) {
                if (x == 0.0) return 1.0;
                x = x * Math.PI;
                return Math.sin(x) / x;
            }
        };

        final double support;

        Filter(double support) {
            this.support = support;
        }

        abstract double kernel(double x);
    }

    /** {@code PRECISION_BITS = 32 - 8 - 2}: two bits of headroom for filters whose weights leave 0..1. */
    static final int PRECISION_BITS = 22;

    /** BICUBIC resize, as {@code image.resize((width, height))} on an RGB image. */
    public static RgbImage resize(RgbImage src, int width, int height) {
        return resize(src, width, height, Filter.BICUBIC);
    }

    public static RgbImage resize(RgbImage src, int width, int height, Filter filter) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("resize target must be at least 1x1, got " + width + "x" + height);
        }
        if (width == src.width() && height == src.height()) {
            return src.copy();
        }
        boolean needHorizontal = width != src.width();
        boolean needVertical = height != src.height();

        Coefficients vert = Coefficients.of(src.height(), height, filter);
        int firstRow = vert.bounds[0];
        int lastRow = vert.bounds[2 * height - 2] + vert.bounds[2 * height - 1];

        byte[] cur = src.rgb();
        int curW = src.width();
        if (needHorizontal) {
            Coefficients horiz = Coefficients.of(src.width(), width, filter);
            cur = horizontal(src.rgb(), src.width(), firstRow, lastRow - firstRow, width, horiz);
            curW = width;
            for (int i = 0; i < height; i++) {
                vert.bounds[2 * i] -= firstRow;
            }
        }
        if (needVertical) {
            cur = vertical(cur, curW, height, vert);
        }
        return new RgbImage(width, height, cur);
    }

    /** Per output index: window start and length in the source, and ksize quantised weights. */
    static final class Coefficients {
        final int ksize;
        final int[] bounds;
        final int[] weights;

        private Coefficients(int ksize, int[] bounds, int[] weights) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.weights = weights;
        }

        /** {@code precompute_coeffs} over the box (0, inSize) followed by {@code normalize_coeffs_8bpc}. */
        static Coefficients of(int inSize, int outSize, Filter filter) {
            float in0 = 0f;
            float in1 = inSize; // Pillow's box coordinates are C floats
            double scale = (double) (in1 - in0) / outSize;
            double filterscale = scale < 1.0 ? 1.0 : scale;
            double support = filter.support * filterscale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            if ((long) outSize * ksize > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("resize from " + inSize + " to " + outSize + " needs too many coefficients");
            }
            int[] bounds = new int[2 * outSize];
            int[] weights = new int[outSize * ksize];
            double[] k = new double[ksize];
            double ss = 1.0 / filterscale;
            for (int xx = 0; xx < outSize; xx++) {
                double center = in0 + (xx + 0.5) * scale;
                double ww = 0.0;
                int xmin = (int) (center - support + 0.5);
                if (xmin < 0) xmin = 0;
                int xmax = (int) (center + support + 0.5);
                if (xmax > inSize) xmax = inSize;
                xmax -= xmin;
                for (int x = 0; x < xmax; x++) {
                    double w = filter.kernel((x + xmin - center + 0.5) * ss);
                    k[x] = w;
                    ww += w;
                }
                for (int x = 0; x < xmax; x++) {
                    if (ww != 0.0) k[x] /= ww;
                }
                int base = xx * ksize;
                for (int x = 0; x < xmax; x++) {
                    double v = k[x] * (1 << PRECISION_BITS);
                    weights[base + x] = k[x] < 0 ? (int) (-0.5 + v) : (int) (0.5 + v);
                }
                bounds[2 * xx] = xmin;
                bounds[2 * xx + 1] = xmax;
            }
            return new Coefficients(ksize, bounds, weights);
        }
    }

    /** {@code clip8}: the integer part of the 22-bit fixed-point sum, clamped to 0..255. */
    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** Horizontal pass over source rows [firstRow, firstRow + rows). */
    private static byte[] horizontal(byte[] in, int inW, int firstRow, int rows, int outW, Coefficients c) {
        byte[] out = new byte[rows * outW * 3];
        int half = 1 << (PRECISION_BITS - 1);
        for (int yy = 0; yy < rows; yy++) {
            int rowBase = (yy + firstRow) * inW * 3;
            int o = yy * outW * 3;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = c.bounds[2 * xx];
                int xmax = c.bounds[2 * xx + 1];
                int kb = xx * c.ksize;
                int s0 = half, s1 = half, s2 = half;
                int p = rowBase + xmin * 3;
                for (int x = 0; x < xmax; x++, p += 3) {
                    int w = c.weights[kb + x];
                    s0 += (in[p] & 0xFF) * w;
                    s1 += (in[p + 1] & 0xFF) * w;
                    s2 += (in[p + 2] & 0xFF) * w;
                }
                out[o++] = (byte) clip8(s0);
                out[o++] = (byte) clip8(s1);
                out[o++] = (byte) clip8(s2);
            }
        }
        return out;
    }

    /** Vertical pass; bounds index rows of {@code in}. */
    private static byte[] vertical(byte[] in, int w, int outH, Coefficients c) {
        byte[] out = new byte[outH * w * 3];
        int half = 1 << (PRECISION_BITS - 1);
        int stride = w * 3;
        int[] acc = new int[stride];
        for (int yy = 0; yy < outH; yy++) {
            int ymin = c.bounds[2 * yy];
            int ymax = c.bounds[2 * yy + 1];
            int kb = yy * c.ksize;
            java.util.Arrays.fill(acc, half);
            // Row-wise accumulation: the same integer sums as Pillow's per-pixel loop (integer addition is exact).
            for (int y = 0; y < ymax; y++) {
                int w8 = c.weights[kb + y];
                int rowBase = (ymin + y) * stride;
                for (int i = 0; i < stride; i++) {
                    acc[i] += (in[rowBase + i] & 0xFF) * w8;
                }
            }
            int o = yy * stride;
            for (int i = 0; i < stride; i++) {
                out[o + i] = (byte) clip8(acc[i]);
            }
        }
        return out;
    }
}
