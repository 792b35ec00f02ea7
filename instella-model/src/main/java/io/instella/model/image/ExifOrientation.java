package io.instella.model.image;

/**
 * The EXIF orientation tag (0x0112) and {@code PIL.ImageOps.exif_transpose}'s mapping of it to a transpose:
 * 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise.
 */
final class ExifOrientation {
    private ExifOrientation() {}

    private static final int TAG_ORIENTATION = 0x0112;

    /** The orientation stored in the file, 1 (as stored) when absent or unreadable. */
    static int read(byte[] b, ImageDecoder.Format format) {
        try {
            return switch (format) {
                case JPEG -> {
                    int[] seg = JpegHeaders.exifSegment(b);
                    yield seg == null ? 1 : fromTiff(b, seg[0], seg[1]);
                }
                case PNG -> pngExif(b);
                case WEBP -> webpExif(b);
                case TIFF -> fromTiff(b, 0, b.length);
                default -> 1;
            };
        } catch (RuntimeException malformed) {
            return 1; // a damaged EXIF block does not stop decoding; the image stays as stored
        }
    }

    private static int pngExif(byte[] b) {
        int p = 8;
        while (p + 12 <= b.length) {
            long len = be32(b, p);
            if (len < 0 || p + 12 + len > b.length) return 1;
            if (b[p + 4] == 'e' && b[p + 5] == 'X' && b[p + 6] == 'I' && b[p + 7] == 'f') {
                return fromTiffMaybePrefixed(b, p + 8, (int) len);
            }
            if (b[p + 4] == 'I' && b[p + 5] == 'E' && b[p + 6] == 'N' && b[p + 7] == 'D') return 1;
            p += 12 + (int) len;
        }
        return 1;
    }

    private static int webpExif(byte[] b) {
        int p = 12;
        while (p + 8 <= b.length) {
            long len = le32(b, p + 4);
            if (len < 0 || p + 8 + len > b.length) return 1;
            if (b[p] == 'E' && b[p + 1] == 'X' && b[p + 2] == 'I' && b[p + 3] == 'F') {
                return fromTiffMaybePrefixed(b, p + 8, (int) len);
            }
            p += 8 + (int) (len + (len & 1));
        }
        return 1;
    }

    private static int fromTiffMaybePrefixed(byte[] b, int off, int len) {
        if (len > 6 && b[off] == 'E' && b[off + 1] == 'x' && b[off + 2] == 'i' && b[off + 3] == 'f'
                && b[off + 4] == 0 && b[off + 5] == 0) {
            return fromTiff(b, off + 6, len - 6);
        }
        return fromTiff(b, off, len);
    }

    /** Reads tag 0x0112 from IFD0 of the TIFF structure at {@code b[off, off + len)}. */
    static int fromTiff(byte[] b, int off, int len) {
        if (len < 8) return 1;
        boolean little;
        if (b[off] == 'I' && b[off + 1] == 'I') little = true;
        else if (b[off] == 'M' && b[off + 1] == 'M') little = false;
        else return 1;
        if (u16(b, off + 2, little) != 42) return 1;
        long ifd = u32(b, off + 4, little);
        if (ifd < 8 || ifd + 2 > len) return 1;
        int entries = u16(b, off + (int) ifd, little);
        for (int i = 0; i < entries; i++) {
            int e = off + (int) ifd + 2 + 12 * i;
            if (e + 12 > off + len) return 1;
            if (u16(b, e, little) == TAG_ORIENTATION) {
                int type = u16(b, e + 2, little);
                int value = switch (type) {
                    case 3 -> u16(b, e + 8, little); // SHORT
                    case 4 -> (int) u32(b, e + 8, little); // LONG
                    default -> 1;
                };
                return value >= 1 && value <= 8 ? value : 1;
            }
        }
        return 1;
    }

    private static int u16(byte[] b, int p, boolean little) {
        return little ? (b[p] & 0xFF) | (b[p + 1] & 0xFF) << 8 : (b[p] & 0xFF) << 8 | (b[p + 1] & 0xFF);
    }

    private static long u32(byte[] b, int p, boolean little) {
        return little ? le32(b, p) : be32(b, p);
    }

    private static long be32(byte[] b, int p) {
        return ((long) (b[p] & 0xFF) << 24) | (b[p + 1] & 0xFF) << 16 | (b[p + 2] & 0xFF) << 8 | (b[p + 3] & 0xFF);
    }

    private static long le32(byte[] b, int p) {
        return ((long) (b[p + 3] & 0xFF) << 24) | (b[p + 2] & 0xFF) << 16 | (b[p + 1] & 0xFF) << 8 | (b[p] & 0xFF);
    }

    /** The image as {@code exif_transpose} leaves it for the given orientation (1 or unknown: unchanged). */
    static RgbImage apply(RgbImage src, int orientation) {
        if (orientation < 2 || orientation > 8) return src;
        int w = src.width();
        int h = src.height();
        boolean swap = orientation >= 5;
        int ow = swap ? h : w;
        int oh = swap ? w : h;
        byte[] in = src.rgb();
        byte[] out = new byte[in.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }           // FLIP_LEFT_RIGHT
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }   // ROTATE_180
                    case 4 -> { sx = x; sy = h - 1 - y; }           // FLIP_TOP_BOTTOM
                    case 5 -> { sx = y; sy = x; }                   // TRANSPOSE
                    case 6 -> { sx = y; sy = h - 1 - x; }           // ROTATE_270 (90 degrees clockwise)
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }   // TRANSVERSE
                    default -> { sx = w - 1 - y; sy = x; }          // 8: ROTATE_90 (anticlockwise)
                }
                int s = (sy * w + sx) * 3;
                int o = (y * ow + x) * 3;
                out[o] = in[s];
                out[o + 1] = in[s + 1];
                out[o + 2] = in[s + 2];
            }
        }
        return new RgbImage(ow, oh, out);
    }
}
