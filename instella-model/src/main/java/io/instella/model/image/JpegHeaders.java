package io.instella.model.image;

/** The few JPEG header facts the decoder needs, read from the marker segments before the first scan. */
final class JpegHeaders {
    private JpegHeaders() {}

    /**
     * The frame header (SOFn) as declared.
     *
     * @param marker        the SOF marker's second byte (0xC0 baseline, 0xC2 progressive, ...)
     * @param segmentLength the segment's payload length (after the two length bytes)
     * @param components    per component {id, horizontal sampling, vertical sampling, quantization table}
     * @param scanOffset    offset of the first SOS marker, or -1 when the file has none
     */
    record Frame(int marker, int segmentLength, int precision, int height, int width, int[][] components,
            int scanOffset) {}

    private static boolean isSof(int marker) {
        return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    }

    /** The first frame header before the first scan, or null when there is none. */
    static Frame frame(byte[] b) {
        int[] at = {-1, 0, 0};
        int sos = scan(b, (marker, off, len) -> {
            if (isSof(marker)) {
                at[0] = off;
                at[1] = len;
                at[2] = marker;
                return false;
            }
            return true;
        });
        int off = at[0];
        int len = at[1];
        if (off < 0) return null;
        if (sos < 0) sos = scan(b, (marker, o, l) -> true);
        if (len < 6) return new Frame(at[2], len, 0, 0, 0, new int[0][], sos);
        int n = b[off + 5] & 0xFF;
        int[][] components = new int[Math.min(n, (len - 6) / 3)][];
        for (int i = 0; i < components.length; i++) {
            int c = off + 6 + 3 * i;
            components[i] = new int[] {b[c] & 0xFF, (b[c + 1] & 0xFF) >> 4, b[c + 1] & 0x0F, b[c + 2] & 0xFF};
        }
        if (components.length < n) { // the segment is too short for its component count
            return new Frame(at[2], len, 0, 0, 0, new int[n][], sos);
        }
        int height = ((b[off + 1] & 0xFF) << 8) | (b[off + 2] & 0xFF);
        int width = ((b[off + 3] & 0xFF) << 8) | (b[off + 4] & 0xFF);
        return new Frame(at[2], len, b[off] & 0xFF, height, width, components, sos);
    }

    /** Number of colour components in the frame header (SOFn), or -1 when there is none before the first scan. */
    static int componentCount(byte[] b) {
        int[] found = {-1};
        scan(b, (marker, off, len) -> {
            boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (sof && len >= 6) {
                found[0] = b[off + 5] & 0xFF;
                return false;
            }
            return true;
        });
        return found[0];
    }

    /** Component identifiers from the frame header (SOFn), or an empty array when there is none. */
    static int[] componentIds(byte[] b) {
        int[][] found = {new int[0]};
        scan(b, (marker, off, len) -> {
            boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (sof && len >= 6) {
                int n = b[off + 5] & 0xFF;
                if (len >= 6 + 3 * n) {
                    int[] ids = new int[n];
                    for (int i = 0; i < n; i++) ids[i] = b[off + 6 + 3 * i] & 0xFF;
                    found[0] = ids;
                }
                return false;
            }
            return true;
        });
        return found[0];
    }

    /** Whether an APP0 "JFIF\0" marker precedes the first scan. */
    static boolean hasJfif(byte[] b) {
        boolean[] found = {false};
        scan(b, (marker, off, len) -> {
            if (marker == 0xE0 && len >= 5 && b[off] == 'J' && b[off + 1] == 'F' && b[off + 2] == 'I'
                    && b[off + 3] == 'F' && b[off + 4] == 0) {
                found[0] = true;
                return false;
            }
            return true;
        });
        return found[0];
    }

    /**
     * libjpeg's default colour space for a 3-component image ({@code default_decompress_parms}, the same in 6b and
     * turbo): JFIF means YCbCr; else an Adobe transform 0 means RGB (other transforms YCbCr); else component ids
     * 'R','G','B' mean RGB; everything else is YCbCr.
     */
    static boolean threeComponentIsYcc(byte[] b) {
        if (hasJfif(b)) return true;
        int transform = adobeTransform(b);
        if (transform >= 0) return transform != 0;
        int[] ids = componentIds(b);
        return !(ids.length == 3 && ids[0] == 'R' && ids[1] == 'G' && ids[2] == 'B');
    }

    /** The Adobe APP14 colour transform (0 = none/CMYK, 1 = YCbCr, 2 = YCCK), or -1 without an Adobe marker. */
    static int adobeTransform(byte[] b) {
        int[] found = {-1};
        scan(b, (marker, off, len) -> {
            if (marker == 0xEE && len >= 12 && b[off] == 'A' && b[off + 1] == 'd' && b[off + 2] == 'o'
                    && b[off + 3] == 'b' && b[off + 4] == 'e') {
                found[0] = b[off + 11] & 0xFF;
                return false;
            }
            return true;
        });
        return found[0];
    }

    /** The TIFF structure inside the first APP1 "Exif\0\0" segment: {offset, length}, or null. */
    static int[] exifSegment(byte[] b) {
        int[][] found = {null};
        scan(b, (marker, off, len) -> {
            if (marker == 0xE1 && len > 6 && b[off] == 'E' && b[off + 1] == 'x' && b[off + 2] == 'i'
                    && b[off + 3] == 'f' && b[off + 4] == 0 && b[off + 5] == 0) {
                found[0] = new int[] {off + 6, len - 6};
                return false;
            }
            return true;
        });
        return found[0];
    }

    /**
     * One scan: its header (SOS) and the length of the entropy-coded data after it.
     *
     * @param componentIds the frame components the scan codes
     * @param ss           spectral selection start (0 = the scan codes DC coefficients)
     * @param se           spectral selection end (63 for a sequential scan)
     * @param ah           successive approximation high bit (0 = first scan of these coefficients)
     * @param dataBytes    bytes from the end of the scan header to the next marker (or the end of the file),
     *                     byte stuffing and restart markers included
     */
    record Scan(int[] componentIds, int ss, int se, int ah, long dataBytes) {}

    /** Every scan from the first SOS at {@code sos} on, up to EOI, the end of the file or a broken marker. */
    static java.util.List<Scan> scans(byte[] b, int sos) {
        java.util.List<Scan> scans = new java.util.ArrayList<>();
        int p = sos;
        while (p >= 0 && p + 4 <= b.length) {
            int len = ((b[p + 2] & 0xFF) << 8) | (b[p + 3] & 0xFF);
            int header = p + 4;
            if (len < 2 || p + 2 + len > b.length) break;
            int n = len >= 3 ? b[header] & 0xFF : 0;
            if (len < 6 + 2 * n) break;
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = b[header + 1 + 2 * i] & 0xFF;
            int tail = header + 1 + 2 * n;
            int data = p + 2 + len;
            int end = data;
            while (end < b.length) { // entropy-coded data ends at a marker other than stuffing or a restart
                if ((b[end] & 0xFF) == 0xFF && end + 1 < b.length) {
                    int m = b[end + 1] & 0xFF;
                    if (m == 0x00 || (m >= 0xD0 && m <= 0xD7)) {
                        end += 2;
                        continue;
                    }
                    if (m != 0xFF) break;
                }
                end++;
            }
            scans.add(new Scan(ids, b[tail] & 0xFF, b[tail + 1] & 0xFF, (b[tail + 2] & 0xFF) >> 4, end - data));
            // Tables and other segments between scans, up to the next SOS.
            p = -1;
            int q = end;
            while (q + 2 <= b.length && (b[q] & 0xFF) == 0xFF) {
                int m = b[q + 1] & 0xFF;
                if (m == 0xFF) {
                    q++;
                    continue;
                }
                if (m == 0xD9) break; // EOI
                if (m == 0xDA) {
                    p = q;
                    break;
                }
                if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
                    q += 2;
                    continue;
                }
                if (q + 4 > b.length) break;
                int segment = ((b[q + 2] & 0xFF) << 8) | (b[q + 3] & 0xFF);
                if (segment < 2) break;
                q += 2 + segment;
            }
        }
        return scans;
    }

    interface SegmentVisitor {
        /** Sees one segment's payload (after the length field); returns false to stop. */
        boolean visit(int marker, int payloadOffset, int payloadLength);
    }

    /**
     * Walks the marker segments from SOI up to the first SOS (or the end of the data); returns the offset of that
     * SOS marker, or -1 when the walk ended elsewhere.
     */
    static int scan(byte[] b, SegmentVisitor visitor) {
        int p = 2; // after SOI
        while (p + 4 <= b.length) {
            if ((b[p] & 0xFF) != 0xFF) return -1;
            int marker = b[p + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte
                p++;
                continue;
            }
            if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // no length field
                p += 2;
                continue;
            }
            if (marker == 0xDA) return p; // SOS
            if (marker == 0xD9) return -1; // EOI
            int len = ((b[p + 2] & 0xFF) << 8) | (b[p + 3] & 0xFF);
            if (len < 2 || p + 2 + len > b.length) return -1;
            if (!visitor.visit(marker, p + 4, len - 2)) return -1;
            p += 2 + len;
        }
        return -1;
    }
}
