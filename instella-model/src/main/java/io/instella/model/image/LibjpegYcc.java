package io.instella.model.image;

/**
 * libjpeg's fixed-point YCbCr -> RGB terms ({@code jdcolor.c}: 16 fraction bits, tables indexed by the 8-bit
 * chroma sample), shared by libjpeg 6b and libjpeg-turbo, so results match Pillow bit for bit.
 */
final class LibjpegYcc {
    private LibjpegYcc() {}

    private static final int SCALEBITS = 16;
    private static final int ONE_HALF = 1 << (SCALEBITS - 1);

    private static int fix(double x) {
        return (int) (x * (1L << SCALEBITS) + 0.5);
    }

    private static final int[] CR_R = new int[256];
    private static final int[] CB_B = new int[256];
    private static final int[] CR_G = new int[256];
    private static final int[] CB_G = new int[256];

    static {
        for (int i = 0; i < 256; i++) {
            int x = i - 128;
            CR_R[i] = (fix(1.40200) * x + ONE_HALF) >> SCALEBITS;
            CB_B[i] = (fix(1.77200) * x + ONE_HALF) >> SCALEBITS;
            CR_G[i] = -fix(0.71414) * x;
            CB_G[i] = -fix(0.34414) * x + ONE_HALF;
        }
    }

    /** Added to Y for red. */
    static int crToR(int cr) {
        return CR_R[cr];
    }

    /** Added to Y for green. */
    static int cbCrToG(int cb, int cr) {
        return (CB_G[cb] + CR_G[cr]) >> SCALEBITS;
    }

    /** Added to Y for blue. */
    static int cbToB(int cb) {
        return CB_B[cb];
    }
}
