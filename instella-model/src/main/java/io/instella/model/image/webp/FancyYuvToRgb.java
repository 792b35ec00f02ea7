package io.instella.model.image.webp;

/**
 * libwebp's default YUV 4:2:0 to RGB output, as {@code WebPDecode} produces it for {@code MODE_RGB}/{@code MODE_RGBA}
 * (what Pillow asks for): "fancy" upsampling of the chroma planes ({@code UpsampleRgbLinePair} in
 * {@code src/dsp/upsampling.c}: each output chroma sample is (9, 3, 3, 1)/16 of the four nearest chroma samples, with
 * libwebp's exact rounding) and the 14-bit fixed-point BT.601 conversion of {@code src/dsp/yuv.h}.
 */
final class FancyYuvToRgb {

    private FancyYuvToRgb() {
    }

    /** RGB bytes, rows top to bottom, for the visible {@code width x height} part of the frame. */
    static byte[] convert(Vp8Frame f) {
        int w = f.width();
        int h = f.height();
        byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        int ys = f.yStride();
        int uvs = f.uvStride();
        // First row: the chroma row above is mirrored (top and current chroma rows are both row 0).
        upsamplePair(f, 0, -1, 0, 0, rgb, w);
        // Then pairs of rows (2k-1, 2k) between chroma rows k-1 and k.
        int y = 0;
        for (; y + 2 < h; y += 2) {
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new Vp8Decoder.DecodeCancelledException();
            }
            int chromaRow = (y >> 1) + 1;
            upsamplePair(f, (y + 1) * ys, (y + 2) * ys, (chromaRow - 1) * uvs, chromaRow * uvs,
                    rgb, w, y + 1, y + 2);
        }
        // The last row of an even-height image is interpolated from the last chroma row alone.
        if ((h & 1) == 0 && h > 1) {
            int lastChroma = (h / 2 - 1) * uvs;
            upsamplePair(f, (h - 1) * ys, -1, lastChroma, lastChroma, rgb, w, h - 1, -1);
        }
        return rgb;
    }

    private static void upsamplePair(Vp8Frame f, int topY, int bottomY, int topUv, int curUv, byte[] rgb, int w) {
        upsamplePair(f, topY, bottomY, topUv, curUv, rgb, w, 0, -1);
    }

    /**
     * One pair of output rows: {@code topRow} uses chroma weighted 3:1 towards {@code topUv}, {@code bottomRow}
     * (if not -1) 3:1 towards {@code curUv}.
     */
    private static void upsamplePair(Vp8Frame f, int topY, int bottomY, int topUv, int curUv, byte[] rgb, int len,
            int topRow, int bottomRow) {
        byte[] yp = f.y();
        byte[] up = f.u();
        byte[] vp = f.v();
        int topDst = topRow * len * 3;
        int bottomDst = bottomRow < 0 ? -1 : bottomRow * len * 3;
        int lastPixelPair = (len - 1) >> 1;
        int tlU = up[topUv] & 0xFF;
        int tlV = vp[topUv] & 0xFF;
        int lU = up[curUv] & 0xFF;
        int lV = vp[curUv] & 0xFF;
        put(rgb, topDst, yp[topY] & 0xFF, (3 * tlU + lU + 2) >> 2, (3 * tlV + lV + 2) >> 2);
        if (bottomDst >= 0) {
            put(rgb, bottomDst, yp[bottomY] & 0xFF, (3 * lU + tlU + 2) >> 2, (3 * lV + tlV + 2) >> 2);
        }
        for (int x = 1; x <= lastPixelPair; x++) {
            int tU = up[topUv + x] & 0xFF;
            int tV = vp[topUv + x] & 0xFF;
            int cU = up[curUv + x] & 0xFF;
            int cV = vp[curUv + x] & 0xFF;
            // Diagonal averages shared by the four output pixels around this chroma sample.
            int avgU = tlU + tU + lU + cU + 8;
            int avgV = tlV + tV + lV + cV + 8;
            int diag12U = (avgU + 2 * (tU + lU)) >> 3;
            int diag12V = (avgV + 2 * (tV + lV)) >> 3;
            int diag03U = (avgU + 2 * (tlU + cU)) >> 3;
            int diag03V = (avgV + 2 * (tlV + cV)) >> 3;
            int tx = topDst + (2 * x - 1) * 3;
            put(rgb, tx, yp[topY + 2 * x - 1] & 0xFF, (diag12U + tlU) >> 1, (diag12V + tlV) >> 1);
            put(rgb, tx + 3, yp[topY + 2 * x] & 0xFF, (diag03U + tU) >> 1, (diag03V + tV) >> 1);
            if (bottomDst >= 0) {
                int bx = bottomDst + (2 * x - 1) * 3;
                put(rgb, bx, yp[bottomY + 2 * x - 1] & 0xFF, (diag03U + lU) >> 1, (diag03V + lV) >> 1);
                put(rgb, bx + 3, yp[bottomY + 2 * x] & 0xFF, (diag12U + cU) >> 1, (diag12V + cV) >> 1);
            }
            tlU = tU;
            tlV = tV;
            lU = cU;
            lV = cV;
        }
        if ((len & 1) == 0) {
            put(rgb, topDst + (len - 1) * 3, yp[topY + len - 1] & 0xFF, (3 * tlU + lU + 2) >> 2,
                    (3 * tlV + lV + 2) >> 2);
            if (bottomDst >= 0) {
                put(rgb, bottomDst + (len - 1) * 3, yp[bottomY + len - 1] & 0xFF, (3 * lU + tlU + 2) >> 2,
                        (3 * lV + tlV + 2) >> 2);
            }
        }
    }

    private static void put(byte[] rgb, int o, int y, int u, int v) {
        rgb[o] = (byte) yuvToR(y, v);
        rgb[o + 1] = (byte) yuvToG(y, u, v);
        rgb[o + 2] = (byte) yuvToB(y, u);
    }

    // libwebp's yuv.h: 14-bit fixed point, results carry 6 fractional bits until the final clip.
    private static int multHi(int v, int coeff) {
        return (v * coeff) >> 8;
    }

    private static int clip8(int v) {
        return (v & ~16383) == 0 ? v >> 6 : v < 0 ? 0 : 255;
    }

    static int yuvToR(int y, int v) {
        return clip8(multHi(y, 19077) + multHi(v, 26149) - 14234);
    }

    static int yuvToG(int y, int u, int v) {
        return clip8(multHi(y, 19077) - multHi(u, 6419) - multHi(v, 13320) + 8708);
    }

    static int yuvToB(int y, int u) {
        return clip8(multHi(y, 19077) + multHi(u, 33050) - 17685);
    }
}
