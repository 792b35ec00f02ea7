package io.instella.model.image.webp;

import java.util.Arrays;
import java.util.function.BooleanSupplier;

/**
 * Decoder for lossy WebP's VP8 key frames (RFC 6386), producing the same Y, U and V samples as libwebp 1.2.x
 * (the decoder Pillow links): boolean-coded headers and modes, token partitions, dequantisation, inverse WHT/DCT,
 * intra prediction with libwebp's edge conventions, and the simple or normal loop filter applied per macroblock
 * row in libwebp's order. Errors on truncated or malformed data are raised where libwebp raises them.
 *
 * <p>The decoder checks {@link Thread#interrupted()} and the caller's stop check once per macroblock row so a caller
 * can cancel it or bound its time.
 */
final class Vp8Decoder {

    // Scratch layout of one macroblock with its top and left neighbours (libwebp's yuv_b_ buffer).
    private static final int BPS = 32;
    private static final int Y_OFF = BPS + 8;
    private static final int U_OFF = Y_OFF + BPS * 16 + BPS;
    private static final int V_OFF = U_OFF + 16;
    private static final int SCRATCH_SIZE = BPS * 17 + BPS * 9;

    private static final int[] SCAN = new int[16];

    static {
        for (int n = 0; n < 16; n++) {
            SCAN[n] = (n & 3) * 4 + (n >> 2) * 4 * BPS;
        }
    }

    private static final int[] ZIGZAG = {0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15};
    /** Coefficient position to probability band; entry 16 is a sentinel. */
    private static final int[] BANDS = {0, 1, 2, 3, 6, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 0};
    private static final int[][] CAT3456 = {
            {173, 148, 140},
            {176, 155, 140, 135},
            {180, 157, 141, 134, 130},
            {254, 254, 243, 230, 196, 177, 153, 140, 133, 130, 129}};

    private static final int[] DC_TABLE = {
            4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 17,
            18, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 25, 25, 26, 27, 28,
            29, 30, 31, 32, 33, 34, 35, 36, 37, 37, 38, 39, 40, 41, 42, 43,
            44, 45, 46, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58,
            59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74,
            75, 76, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89,
            91, 93, 95, 96, 98, 100, 101, 102, 104, 106, 108, 110, 112, 114, 116, 118,
            122, 124, 126, 128, 130, 132, 134, 136, 138, 140, 143, 145, 148, 151, 154, 157};

    private static final int[] AC_TABLE = {
            4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
            20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
            36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
            52, 53, 54, 55, 56, 57, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76,
            78, 80, 82, 84, 86, 88, 90, 92, 94, 96, 98, 100, 102, 104, 106, 108,
            110, 112, 114, 116, 119, 122, 125, 128, 131, 134, 137, 140, 143, 146, 149, 152,
            155, 158, 161, 164, 167, 170, 173, 177, 181, 185, 189, 193, 197, 201, 205, 209,
            213, 217, 221, 225, 229, 234, 239, 245, 249, 254, 259, 264, 269, 274, 279, 284};

    // Intra modes (libwebp numbering; 16x16 and chroma modes share the first four values).
    private static final int B_DC_PRED = 0;
    private static final int B_TM_PRED = 1;
    private static final int B_VE_PRED = 2;
    private static final int B_HE_PRED = 3;
    private static final int B_RD_PRED = 4;
    private static final int B_VR_PRED = 5;
    private static final int B_LD_PRED = 6;
    private static final int B_VL_PRED = 7;
    private static final int B_HD_PRED = 8;
    private static final int B_HU_PRED = 9;
    private static final int DC_PRED_NOTOP = 4;
    private static final int DC_PRED_NOLEFT = 5;
    private static final int DC_PRED_NOTOPLEFT = 6;

    // Dequantisation factor indices.
    private static final int Y1_DC = 0;
    private static final int Y1_AC = 1;
    private static final int Y2_DC = 2;
    private static final int Y2_AC = 3;
    private static final int UV_DC = 4;
    private static final int UV_AC = 5;

    private final byte[] data;
    private final int width;
    private final int height;
    private final int mbW;
    private final int mbH;

    // Segment header.
    private boolean useSegment;
    private boolean updateMap;
    private boolean absoluteDelta = true;
    private final int[] segQuantizer = new int[4];
    private final int[] segFilterStrength = new int[4];
    private final int[] segmentProbs = {255, 255, 255};

    // Filter header.
    private boolean simpleFilter;
    private int filterLevel;
    private int sharpness;
    private boolean useLfDelta;
    private final int[] refLfDelta = new int[4];
    private final int[] modeLfDelta = new int[4];
    private int filterType;

    private Vp8BoolDecoder header;
    private Vp8BoolDecoder[] partitions;
    private int numPartsMinusOne;
    private final int[][] dequant = new int[4][6];
    private final int[] coeffProbs = new int[4 * 8 * 3 * 11];
    private boolean useSkipProba;
    private int skipProba;

    // Per-macroblock-column state.
    private int[] topNz;
    private int[] topNzDc;
    private int leftNz;
    private int leftNzDc;
    private int[] intraTop;
    private final int[] intraLeft = new int[4];

    // Modes of the current macroblock row.
    private int[] mbSegment;
    private boolean[] mbSkip;
    private boolean[] mbIs4x4;
    private int[] mbModes;
    private int[] mbUvMode;

    // Loop filter parameters: per segment and 16x16/4x4, then per macroblock of the current row.
    private final int[][] fsLimit = new int[4][2];
    private final int[][] fsIlevel = new int[4][2];
    private final int[][] fsHev = new int[4][2];
    private int[] rowLimit;
    private int[] rowIlevel;
    private int[] rowHev;
    private boolean[] rowInner;

    // Reconstruction.
    private final byte[] ws = new byte[SCRATCH_SIZE];
    private byte[] yTop;
    private byte[] uTop;
    private byte[] vTop;
    private byte[] yPlane;
    private byte[] uPlane;
    private byte[] vPlane;
    private int yStride;
    private int uvStride;
    private final short[] coeffs = new short[384];
    private final short[] dcCoeffs = new short[16];

    private BooleanSupplier stop;

    private Vp8Decoder(byte[] data, int width, int height) {
        this.data = data;
        this.width = width;
        this.height = height;
        this.mbW = (width + 15) >> 4;
        this.mbH = (height + 15) >> 4;
    }

    /**
     * Frame width and height from a VP8 key frame header (10 bytes at {@code offset}), checked as libwebp's
     * VP8GetInfo checks them. {@code length} is the chunk's declared size, {@code available} the bytes present.
     */
    static int[] readSize(byte[] data, int offset, int length, int available) {
        if (available < 10) {
            throw new WebpFormatException("VP8 frame header is truncated (" + available
                    + " bytes, at least 10 needed)");
        }
        int bits = (data[offset] & 0xFF) | (data[offset + 1] & 0xFF) << 8 | (data[offset + 2] & 0xFF) << 16;
        if ((bits & 1) != 0) {
            throw new WebpFormatException("VP8 bitstream does not start with a key frame");
        }
        if (((bits >> 1) & 7) > 3) {
            throw new WebpFormatException("VP8 frame header has an unknown profile " + ((bits >> 1) & 7));
        }
        if (((bits >> 4) & 1) == 0) {
            throw new WebpFormatException("VP8 frame is marked invisible");
        }
        if ((data[offset + 3] & 0xFF) != 0x9d || (data[offset + 4] & 0xFF) != 0x01
                || (data[offset + 5] & 0xFF) != 0x2a) {
            throw new WebpFormatException("VP8 frame header lacks the start code 9d 01 2a");
        }
        if ((bits >>> 5) >= length) {
            throw new WebpFormatException("VP8 first partition size " + (bits >>> 5)
                    + " does not fit in the VP8 chunk of " + length + " bytes");
        }
        int w = ((data[offset + 7] & 0xFF) << 8 | (data[offset + 6] & 0xFF)) & 0x3fff;
        int h = ((data[offset + 9] & 0xFF) << 8 | (data[offset + 8] & 0xFF)) & 0x3fff;
        if (w == 0 || h == 0) {
            throw new WebpFormatException("VP8 frame has zero size (" + w + "x" + h + ")");
        }
        return new int[] {w, h};
    }

    /**
     * Decodes the VP8 payload at {@code offset}: {@code length} is the chunk's declared size, {@code available}
     * the bytes libwebp hands to its decoder (the payload and its padding byte), already checked to be present.
     */
    static Vp8Frame decode(byte[] data, int offset, int length, int available, BooleanSupplier stop) {
        int[] size = readSize(data, offset, length, available);
        Vp8Decoder dec = new Vp8Decoder(data, size[0], size[1]);
        dec.stop = stop;
        dec.parseHeaders(offset, available);
        dec.decodeFrame();
        return new Vp8Frame(dec.width, dec.height, dec.yPlane, dec.yStride, dec.uPlane, dec.vPlane, dec.uvStride);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Headers (RFC 6386 section 9)

    private void parseHeaders(int offset, int length) {
        int bits = (data[offset] & 0xFF) | (data[offset + 1] & 0xFF) << 8 | (data[offset + 2] & 0xFF) << 16;
        int partitionLength = bits >>> 5;
        int pos = offset + 10;
        int left = length - 10;
        if (partitionLength > left) {
            throw new WebpFormatException("VP8 first partition (" + partitionLength + " bytes) is truncated");
        }
        header = new Vp8BoolDecoder(data, pos, partitionLength);
        pos += partitionLength;
        left -= partitionLength;

        header.bit(0x80); // colour space: only 0 is defined, libwebp ignores it
        header.bit(0x80); // clamping type: the decoder always clamps
        parseSegmentHeader();
        parseFilterHeader();
        parsePartitions(pos, left);
        parseQuant();
        header.bit(0x80); // refresh_entropy_probs: irrelevant for a single key frame
        parseProbas();
    }

    private void parseSegmentHeader() {
        Vp8BoolDecoder br = header;
        useSegment = br.bit(0x80) == 1;
        if (useSegment) {
            updateMap = br.bit(0x80) == 1;
            if (br.bit(0x80) == 1) {
                absoluteDelta = br.bit(0x80) == 1;
                for (int s = 0; s < 4; s++) {
                    segQuantizer[s] = br.bit(0x80) == 1 ? br.signedLiteral(7) : 0;
                }
                for (int s = 0; s < 4; s++) {
                    segFilterStrength[s] = br.bit(0x80) == 1 ? br.signedLiteral(6) : 0;
                }
            }
            if (updateMap) {
                for (int s = 0; s < 3; s++) {
                    segmentProbs[s] = br.bit(0x80) == 1 ? br.literal(8) : 255;
                }
            }
        } else {
            updateMap = false;
        }
        if (br.eof()) {
            throw new WebpFormatException("VP8 segment header is truncated");
        }
    }

    private void parseFilterHeader() {
        Vp8BoolDecoder br = header;
        simpleFilter = br.bit(0x80) == 1;
        filterLevel = br.literal(6);
        sharpness = br.literal(3);
        useLfDelta = br.bit(0x80) == 1;
        if (useLfDelta && br.bit(0x80) == 1) {
            for (int i = 0; i < 4; i++) {
                if (br.bit(0x80) == 1) {
                    refLfDelta[i] = br.signedLiteral(6);
                }
            }
            for (int i = 0; i < 4; i++) {
                if (br.bit(0x80) == 1) {
                    modeLfDelta[i] = br.signedLiteral(6);
                }
            }
        }
        filterType = filterLevel == 0 ? 0 : simpleFilter ? 1 : 2;
        if (br.eof()) {
            throw new WebpFormatException("VP8 filter header is truncated");
        }
    }

    private void parsePartitions(int pos, int size) {
        numPartsMinusOne = (1 << header.literal(2)) - 1;
        int lastPart = numPartsMinusOne;
        if (size < 3 * lastPart) {
            throw new WebpFormatException("VP8 token partition sizes are truncated");
        }
        partitions = new Vp8BoolDecoder[lastPart + 1];
        int sz = pos;
        int partStart = pos + lastPart * 3;
        int sizeLeft = size - lastPart * 3;
        for (int p = 0; p < lastPart; p++) {
            int psize = (data[sz] & 0xFF) | (data[sz + 1] & 0xFF) << 8 | (data[sz + 2] & 0xFF) << 16;
            if (psize > sizeLeft) {
                psize = sizeLeft;
            }
            partitions[p] = new Vp8BoolDecoder(data, partStart, psize);
            partStart += psize;
            sizeLeft -= psize;
            sz += 3;
        }
        partitions[lastPart] = new Vp8BoolDecoder(data, partStart, sizeLeft);
        if (sizeLeft <= 0) {
            throw new WebpFormatException("VP8 token partitions are truncated (the last partition is empty)");
        }
    }

    private void parseQuant() {
        Vp8BoolDecoder br = header;
        int baseQ0 = br.literal(7);
        int dqy1Dc = br.bit(0x80) == 1 ? br.signedLiteral(4) : 0;
        int dqy2Dc = br.bit(0x80) == 1 ? br.signedLiteral(4) : 0;
        int dqy2Ac = br.bit(0x80) == 1 ? br.signedLiteral(4) : 0;
        int dquvDc = br.bit(0x80) == 1 ? br.signedLiteral(4) : 0;
        int dquvAc = br.bit(0x80) == 1 ? br.signedLiteral(4) : 0;
        for (int i = 0; i < 4; i++) {
            int q;
            if (useSegment) {
                q = segQuantizer[i];
                if (!absoluteDelta) {
                    q += baseQ0;
                }
            } else if (i > 0) {
                dequant[i] = dequant[0];
                continue;
            } else {
                q = baseQ0;
            }
            int[] m = dequant[i];
            m[Y1_DC] = DC_TABLE[clip(q + dqy1Dc, 127)];
            m[Y1_AC] = AC_TABLE[clip(q, 127)];
            m[Y2_DC] = DC_TABLE[clip(q + dqy2Dc, 127)] * 2;
            // x * 155 / 100 for every table value, in libwebp's fixed point.
            m[Y2_AC] = Math.max((AC_TABLE[clip(q + dqy2Ac, 127)] * 101581) >> 16, 8);
            m[UV_DC] = DC_TABLE[clip(q + dquvDc, 117)];
            m[UV_AC] = AC_TABLE[clip(q + dquvAc, 127)];
        }
    }

    private static int clip(int v, int max) {
        return v < 0 ? 0 : Math.min(v, max);
    }

    private void parseProbas() {
        Vp8BoolDecoder br = header;
        for (int i = 0; i < coeffProbs.length; i++) {
            coeffProbs[i] = br.bit(Vp8Tables.COEFF_UPDATE_PROBS[i]) == 1
                    ? br.literal(8) : Vp8Tables.DEFAULT_COEFF_PROBS[i];
        }
        useSkipProba = br.bit(0x80) == 1;
        if (useSkipProba) {
            skipProba = br.literal(8);
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Frame loop

    private void decodeFrame() {
        yStride = mbW * 16;
        uvStride = mbW * 8;
        yPlane = new byte[Math.multiplyExact(yStride, mbH * 16)];
        uPlane = new byte[Math.multiplyExact(uvStride, mbH * 8)];
        vPlane = new byte[uPlane.length];
        yTop = new byte[yStride];
        uTop = new byte[uvStride];
        vTop = new byte[uvStride];
        topNz = new int[mbW];
        topNzDc = new int[mbW];
        intraTop = new int[4 * mbW];
        mbSegment = new int[mbW];
        mbSkip = new boolean[mbW];
        mbIs4x4 = new boolean[mbW];
        mbModes = new int[16 * mbW];
        mbUvMode = new int[mbW];
        rowLimit = new int[mbW];
        rowIlevel = new int[mbW];
        rowHev = new int[mbW];
        rowInner = new boolean[mbW];
        precomputeFilterStrengths();

        for (int mbY = 0; mbY < mbH; mbY++) {
            if (stop != null && stop.getAsBoolean()) {
                throw new WebpDecoder.DecodeStoppedException();
            }
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new DecodeCancelledException();
            }
            Vp8BoolDecoder tokens = partitions[mbY & numPartsMinusOne];
            for (int mbX = 0; mbX < mbW; mbX++) {
                parseIntraMode(mbX);
            }
            if (header.eof()) {
                throw new WebpFormatException("VP8 first partition ends early (premature end of partition 0)");
            }
            leftNz = 0;
            leftNzDc = 0;
            Arrays.fill(intraLeft, B_DC_PRED);
            startReconstructionRow(mbY);
            for (int mbX = 0; mbX < mbW; mbX++) {
                decodeMacroblock(mbX, mbY, tokens);
                if (tokens.eof()) {
                    throw new WebpFormatException("VP8 token data ends early (premature end of file)");
                }
            }
            if (filterType > 0) {
                for (int mbX = 0; mbX < mbW; mbX++) {
                    filterMacroblock(mbX, mbY);
                }
            }
        }
    }

    private void parseIntraMode(int mbX) {
        Vp8BoolDecoder br = header;
        if (updateMap) {
            mbSegment[mbX] = br.bit(segmentProbs[0]) == 0
                    ? br.bit(segmentProbs[1])
                    : br.bit(segmentProbs[2]) + 2;
        } else {
            mbSegment[mbX] = 0;
        }
        if (useSkipProba) {
            mbSkip[mbX] = br.bit(skipProba) == 1;
        }
        boolean is4x4 = br.bit(145) == 0;
        mbIs4x4[mbX] = is4x4;
        int top = 4 * mbX;
        if (!is4x4) {
            int ymode = br.bit(156) == 1
                    ? (br.bit(128) == 1 ? B_TM_PRED : B_HE_PRED)
                    : (br.bit(163) == 1 ? B_VE_PRED : B_DC_PRED);
            mbModes[16 * mbX] = ymode;
            Arrays.fill(intraTop, top, top + 4, ymode);
            Arrays.fill(intraLeft, ymode);
        } else {
            int modes = 16 * mbX;
            for (int y = 0; y < 4; y++) {
                int ymode = intraLeft[y];
                for (int x = 0; x < 4; x++) {
                    int prob = (intraTop[top + x] * 10 + ymode) * 9;
                    int[] p = Vp8Tables.KEYFRAME_BMODE_PROBS;
                    if (br.bit(p[prob]) == 0) {
                        ymode = B_DC_PRED;
                    } else if (br.bit(p[prob + 1]) == 0) {
                        ymode = B_TM_PRED;
                    } else if (br.bit(p[prob + 2]) == 0) {
                        ymode = B_VE_PRED;
                    } else if (br.bit(p[prob + 3]) == 0) {
                        ymode = br.bit(p[prob + 4]) == 0 ? B_HE_PRED
                                : br.bit(p[prob + 5]) == 0 ? B_RD_PRED : B_VR_PRED;
                    } else {
                        ymode = br.bit(p[prob + 6]) == 0 ? B_LD_PRED
                                : br.bit(p[prob + 7]) == 0 ? B_VL_PRED
                                : br.bit(p[prob + 8]) == 0 ? B_HD_PRED : B_HU_PRED;
                    }
                    intraTop[top + x] = ymode;
                }
                System.arraycopy(intraTop, top, mbModes, modes, 4);
                modes += 4;
                intraLeft[y] = ymode;
            }
        }
        mbUvMode[mbX] = br.bit(142) == 0 ? B_DC_PRED
                : br.bit(114) == 0 ? B_VE_PRED
                : br.bit(183) == 1 ? B_TM_PRED : B_HE_PRED;
    }

    private void decodeMacroblock(int mbX, int mbY, Vp8BoolDecoder tokens) {
        boolean skip = useSkipProba && mbSkip[mbX];
        int nonZeroY;
        int nonZeroUv;
        if (!skip) {
            long nz = parseResiduals(mbX, tokens);
            nonZeroY = (int) (nz >>> 32);
            nonZeroUv = (int) nz;
            skip = (nonZeroY | nonZeroUv) == 0;
        } else {
            leftNz = 0;
            topNz[mbX] = 0;
            if (!mbIs4x4[mbX]) {
                leftNzDc = 0;
                topNzDc[mbX] = 0;
            }
            nonZeroY = 0;
            nonZeroUv = 0;
        }
        if (filterType > 0) {
            int seg = mbSegment[mbX];
            int i4 = mbIs4x4[mbX] ? 1 : 0;
            rowLimit[mbX] = fsLimit[seg][i4];
            rowIlevel[mbX] = fsIlevel[seg][i4];
            rowHev[mbX] = fsHev[seg][i4];
            rowInner[mbX] = i4 == 1 || !skip;
        }
        reconstruct(mbX, mbY, nonZeroY, nonZeroUv);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Residuals (RFC 6386 section 13)

    private static int probIndex(int type, int band, int ctx) {
        return ((type * 8 + band) * 3 + ctx) * 11;
    }

    /** Reads one block's tokens into {@code out[off..off+16)}; returns the index after the last non-zero one. */
    private int getCoeffs(Vp8BoolDecoder br, int type, int ctx, int dcQ, int acQ, int n, short[] out, int off) {
        int[] probs = coeffProbs;
        int p = probIndex(type, BANDS[n], ctx);
        for (; n < 16; n++) {
            if (br.bit(probs[p]) == 0) {
                return n;
            }
            while (br.bit(probs[p + 1]) == 0) {
                p = probIndex(type, BANDS[++n], 0);
                if (n == 16) {
                    return 16;
                }
            }
            int v;
            if (br.bit(probs[p + 2]) == 0) {
                v = 1;
                p = probIndex(type, BANDS[n + 1], 1);
            } else {
                v = largeValue(br, probs, p);
                p = probIndex(type, BANDS[n + 1], 2);
            }
            // int16_t storage, as in libwebp (wraps on absurd values instead of failing).
            out[off + ZIGZAG[n]] = (short) (br.signed(v) * (n > 0 ? acQ : dcQ));
        }
        return 16;
    }

    private static int largeValue(Vp8BoolDecoder br, int[] probs, int p) {
        int v;
        if (br.bit(probs[p + 3]) == 0) {
            if (br.bit(probs[p + 4]) == 0) {
                v = 2;
            } else {
                v = 3 + br.bit(probs[p + 5]);
            }
        } else if (br.bit(probs[p + 6]) == 0) {
            if (br.bit(probs[p + 7]) == 0) {
                v = 5 + br.bit(159);
            } else {
                v = 7 + 2 * br.bit(165);
                v += br.bit(145);
            }
        } else {
            int bit1 = br.bit(probs[p + 8]);
            int bit0 = br.bit(probs[p + 9 + bit1]);
            int cat = 2 * bit1 + bit0;
            v = 0;
            for (int prob : CAT3456[cat]) {
                v += v + br.bit(prob);
            }
            v += 3 + (8 << cat);
        }
        return v;
    }

    private static int nzCodeBits(int nzCoeffs, int nz, boolean dcNz) {
        return (nzCoeffs << 2) | (nz > 3 ? 3 : nz > 1 ? 2 : dcNz ? 1 : 0);
    }

    /** Parses a macroblock's coefficients into {@link #coeffs}; returns non_zero_y in the high and non_zero_uv in the low 32 bits. */
    private long parseResiduals(int mbX, Vp8BoolDecoder br) {
        short[] dst = coeffs;
        Arrays.fill(dst, (short) 0);
        int[] q = dequant[mbSegment[mbX]];
        int first;
        int acType;
        if (!mbIs4x4[mbX]) {
            short[] dc = dcCoeffs;
            Arrays.fill(dc, (short) 0);
            int ctx = topNzDc[mbX] + leftNzDc;
            int nz = getCoeffs(br, 1, ctx, q[Y2_DC], q[Y2_AC], 0, dc, 0);
            int flag = nz > 0 ? 1 : 0;
            topNzDc[mbX] = flag;
            leftNzDc = flag;
            if (nz > 1) {
                transformWht(dc, dst);
            } else {
                short dc0 = (short) ((dc[0] + 3) >> 3);
                for (int i = 0; i < 256; i += 16) {
                    dst[i] = dc0;
                }
            }
            first = 1;
            acType = 0;
        } else {
            first = 0;
            acType = 3;
        }

        int tnz = topNz[mbX] & 0x0f;
        int lnz = leftNz & 0x0f;
        int nonZeroY = 0;
        int off = 0;
        for (int y = 0; y < 4; y++) {
            int l = lnz & 1;
            int nzCoeffs = 0;
            for (int x = 0; x < 4; x++) {
                int ctx = l + (tnz & 1);
                int nz = getCoeffs(br, acType, ctx, q[Y1_DC], q[Y1_AC], first, dst, off);
                l = nz > first ? 1 : 0;
                tnz = (tnz >>> 1) | (l << 7);
                nzCoeffs = nzCodeBits(nzCoeffs, nz, dst[off] != 0);
                off += 16;
            }
            tnz >>>= 4;
            lnz = (lnz >>> 1) | (l << 7);
            nonZeroY = (nonZeroY << 8) | nzCoeffs;
        }
        int outTnz = tnz;
        int outLnz = lnz >>> 4;

        int nonZeroUv = 0;
        for (int ch = 0; ch < 4; ch += 2) {
            int nzCoeffs = 0;
            tnz = (topNz[mbX] & 0xFF) >>> (4 + ch);
            lnz = (leftNz & 0xFF) >>> (4 + ch);
            for (int y = 0; y < 2; y++) {
                int l = lnz & 1;
                for (int x = 0; x < 2; x++) {
                    int ctx = l + (tnz & 1);
                    int nz = getCoeffs(br, 2, ctx, q[UV_DC], q[UV_AC], 0, dst, off);
                    l = nz > 0 ? 1 : 0;
                    tnz = (tnz >>> 1) | (l << 3);
                    nzCoeffs = nzCodeBits(nzCoeffs, nz, dst[off] != 0);
                    off += 16;
                }
                tnz >>>= 2;
                lnz = (lnz >>> 1) | (l << 5);
            }
            nonZeroUv |= nzCoeffs << (4 * ch);
            outTnz |= (tnz << 4) << ch;
            outLnz |= (lnz & 0xf0) << ch;
        }
        topNz[mbX] = outTnz & 0xFF;
        leftNz = outLnz & 0xFF;
        return ((long) nonZeroY << 32) | (nonZeroUv & 0xFFFFFFFFL);
    }

    // -----------------------------------------------------------------------------------------------------------
    // Inverse transforms (RFC 6386 section 14, libwebp's fixed point)

    private static void transformWht(short[] in, short[] out) {
        int[] tmp = new int[16];
        for (int i = 0; i < 4; i++) {
            int a0 = in[i] + in[12 + i];
            int a1 = in[4 + i] + in[8 + i];
            int a2 = in[4 + i] - in[8 + i];
            int a3 = in[i] - in[12 + i];
            tmp[i] = a0 + a1;
            tmp[8 + i] = a0 - a1;
            tmp[4 + i] = a3 + a2;
            tmp[12 + i] = a3 - a2;
        }
        int o = 0;
        for (int i = 0; i < 4; i++) {
            int dc = tmp[i * 4] + 3;
            int a0 = dc + tmp[3 + i * 4];
            int a1 = tmp[1 + i * 4] + tmp[2 + i * 4];
            int a2 = tmp[1 + i * 4] - tmp[2 + i * 4];
            int a3 = dc - tmp[3 + i * 4];
            out[o] = (short) ((a0 + a1) >> 3);
            out[o + 16] = (short) ((a3 + a2) >> 3);
            out[o + 32] = (short) ((a0 - a1) >> 3);
            out[o + 48] = (short) ((a3 - a2) >> 3);
            o += 64;
        }
    }

    private static int mul1(int a) {
        return ((a * 20091) >> 16) + a;
    }

    private static int mul2(int a) {
        return (a * 35468) >> 16;
    }

    private static int clip8(int v) {
        return (v & ~0xff) == 0 ? v : v < 0 ? 0 : 255;
    }

    private void store(int pos, int v) {
        ws[pos] = (byte) clip8((ws[pos] & 0xFF) + (v >> 3));
    }

    private final int[] idctTmp = new int[16];

    /** Wraps to a signed 16-bit lane, as the SSE2 code does. */
    private static int s16(int v) {
        return (short) v;
    }

    /** {@code _mm_mulhi_epi16}: high half of the signed 16x16-bit product. */
    private static int mulhi(int a, int k) {
        return (a * k) >> 16;
    }

    /**
     * Full inverse DCT of one 4x4 block, added to the prediction. This follows libwebp's SSE2 version (what Pillow
     * runs on x86-64): the same arithmetic as the C version ({@code x * 35468 >> 16} computed as
     * {@code (x * -30068 >> 16) + x}, {@code x * 85627 >> 16} as {@code (x * 20091 >> 16) + x}), but every
     * intermediate wraps to 16 bits. Valid streams never overflow, so both agree; corrupt ones decode like Pillow.
     */
    private void transformOne(short[] in, int inOff, int dst) {
        int[] tmp = idctTmp;
        int t = 0;
        for (int i = 0; i < 4; i++) {
            int i0 = in[inOff + i];
            int i4 = in[inOff + 4 + i];
            int i8 = in[inOff + 8 + i];
            int i12 = in[inOff + 12 + i];
            int a = s16(i0 + i8);
            int b = s16(i0 - i8);
            int c = s16(s16(i4 - i12) + s16(mulhi(i4, -30068) - mulhi(i12, 20091)));
            int d = s16(s16(i4 + i12) + s16(mulhi(i4, 20091) + mulhi(i12, -30068)));
            tmp[t] = s16(a + d);
            tmp[t + 1] = s16(b + c);
            tmp[t + 2] = s16(b - c);
            tmp[t + 3] = s16(a - d);
            t += 4;
        }
        for (int i = 0; i < 4; i++) {
            int dc = s16(tmp[i] + 4);
            int a = s16(dc + tmp[8 + i]);
            int b = s16(dc - tmp[8 + i]);
            int t1 = tmp[4 + i];
            int t3 = tmp[12 + i];
            int c = s16(s16(t1 - t3) + s16(mulhi(t1, -30068) - mulhi(t3, 20091)));
            int d = s16(s16(t1 + t3) + s16(mulhi(t1, 20091) + mulhi(t3, -30068)));
            addClamped(dst, s16(a + d) >> 3);
            addClamped(dst + 1, s16(b + c) >> 3);
            addClamped(dst + 2, s16(b - c) >> 3);
            addClamped(dst + 3, s16(a - d) >> 3);
            dst += BPS;
        }
    }

    private void addClamped(int pos, int v) {
        ws[pos] = (byte) clip8((ws[pos] & 0xFF) + v);
    }

    private void transformAc3(short[] in, int inOff, int dst) {
        int a = in[inOff] + 4;
        int c4 = mul2(in[inOff + 4]);
        int d4 = mul1(in[inOff + 4]);
        int c1 = mul2(in[inOff + 1]);
        int d1 = mul1(in[inOff + 1]);
        store2(dst, a + d4, d1, c1);
        store2(dst + BPS, a + c4, d1, c1);
        store2(dst + 2 * BPS, a - c4, d1, c1);
        store2(dst + 3 * BPS, a - d4, d1, c1);
    }

    private void store2(int row, int dc, int d, int c) {
        store(row, dc + d);
        store(row + 1, dc + c);
        store(row + 2, dc - c);
        store(row + 3, dc - d);
    }

    private void transformDc(short[] in, int inOff, int dst) {
        int dc = in[inOff] + 4;
        for (int j = 0; j < 4; j++) {
            for (int i = 0; i < 4; i++) {
                store(dst + i + j * BPS, dc);
            }
        }
    }

    private void doTransform(int bits, short[] src, int srcOff, int dst) {
        switch (bits >>> 30) {
            case 3 -> transformOne(src, srcOff, dst);
            case 2 -> transformAc3(src, srcOff, dst);
            case 1 -> transformDc(src, srcOff, dst);
            default -> {
            }
        }
    }

    private void doUvTransform(int bits, short[] src, int srcOff, int dst) {
        if ((bits & 0xff) != 0) {
            if ((bits & 0xaa) != 0) {
                transformOne(src, srcOff, dst);
                transformOne(src, srcOff + 16, dst + 4);
                transformOne(src, srcOff + 32, dst + 4 * BPS);
                transformOne(src, srcOff + 48, dst + 4 * BPS + 4);
            } else {
                if (src[srcOff] != 0) transformDc(src, srcOff, dst);
                if (src[srcOff + 16] != 0) transformDc(src, srcOff + 16, dst + 4);
                if (src[srcOff + 32] != 0) transformDc(src, srcOff + 32, dst + 4 * BPS);
                if (src[srcOff + 48] != 0) transformDc(src, srcOff + 48, dst + 4 * BPS + 4);
            }
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Reconstruction (libwebp's ReconstructRow, one macroblock at a time)

    private void startReconstructionRow(int mbY) {
        for (int j = 0; j < 16; j++) {
            ws[Y_OFF + j * BPS - 1] = (byte) 129;
        }
        for (int j = 0; j < 8; j++) {
            ws[U_OFF + j * BPS - 1] = (byte) 129;
            ws[V_OFF + j * BPS - 1] = (byte) 129;
        }
        if (mbY > 0) {
            ws[Y_OFF - 1 - BPS] = (byte) 129;
            ws[U_OFF - 1 - BPS] = (byte) 129;
            ws[V_OFF - 1 - BPS] = (byte) 129;
        } else {
            Arrays.fill(ws, Y_OFF - BPS - 1, Y_OFF - BPS - 1 + 21, (byte) 127);
            Arrays.fill(ws, U_OFF - BPS - 1, U_OFF - BPS - 1 + 9, (byte) 127);
            Arrays.fill(ws, V_OFF - BPS - 1, V_OFF - BPS - 1 + 9, (byte) 127);
        }
    }

    private static int checkMode(int mbX, int mbY, int mode) {
        if (mode == B_DC_PRED) {
            if (mbX == 0) {
                return mbY == 0 ? DC_PRED_NOTOPLEFT : DC_PRED_NOLEFT;
            }
            return mbY == 0 ? DC_PRED_NOTOP : B_DC_PRED;
        }
        return mode;
    }

    private void reconstruct(int mbX, int mbY, int nonZeroY, int nonZeroUv) {
        byte[] b = ws;
        if (mbX > 0) {
            for (int j = -1; j < 16; j++) {
                System.arraycopy(b, Y_OFF + j * BPS + 12, b, Y_OFF + j * BPS - 4, 4);
            }
            for (int j = -1; j < 8; j++) {
                System.arraycopy(b, U_OFF + j * BPS + 4, b, U_OFF + j * BPS - 4, 4);
                System.arraycopy(b, V_OFF + j * BPS + 4, b, V_OFF + j * BPS - 4, 4);
            }
        }
        if (mbY > 0) {
            System.arraycopy(yTop, mbX * 16, b, Y_OFF - BPS, 16);
            System.arraycopy(uTop, mbX * 8, b, U_OFF - BPS, 8);
            System.arraycopy(vTop, mbX * 8, b, V_OFF - BPS, 8);
        }
        int bits = nonZeroY;
        if (mbIs4x4[mbX]) {
            int topRight = Y_OFF - BPS + 16;
            if (mbY > 0) {
                if (mbX >= mbW - 1) {
                    Arrays.fill(b, topRight, topRight + 4, yTop[mbX * 16 + 15]);
                } else {
                    System.arraycopy(yTop, (mbX + 1) * 16, b, topRight, 4);
                }
            }
            // Sub-blocks on the right column see the macroblock's top-right samples (libwebp, RFC 6386 12.3).
            for (int k = 1; k <= 3; k++) {
                System.arraycopy(b, topRight, b, topRight + 4 * k * BPS, 4);
            }
            int modes = 16 * mbX;
            for (int n = 0; n < 16; n++, bits <<= 2) {
                int dst = Y_OFF + SCAN[n];
                predictLuma4(mbModes[modes + n], dst);
                doTransform(bits, coeffs, n * 16, dst);
            }
        } else {
            predictBlock(checkMode(mbX, mbY, mbModes[16 * mbX]), Y_OFF, 4);
            if (bits != 0) {
                for (int n = 0; n < 16; n++, bits <<= 2) {
                    doTransform(bits, coeffs, n * 16, Y_OFF + SCAN[n]);
                }
            }
        }
        int uvMode = checkMode(mbX, mbY, mbUvMode[mbX]);
        predictBlock(uvMode, U_OFF, 3);
        predictBlock(uvMode, V_OFF, 3);
        doUvTransform(nonZeroUv, coeffs, 256, U_OFF);
        doUvTransform(nonZeroUv >>> 8, coeffs, 320, V_OFF);

        if (mbY < mbH - 1) {
            System.arraycopy(b, Y_OFF + 15 * BPS, yTop, mbX * 16, 16);
            System.arraycopy(b, U_OFF + 7 * BPS, uTop, mbX * 8, 8);
            System.arraycopy(b, V_OFF + 7 * BPS, vTop, mbX * 8, 8);
        }
        int yOut = mbY * 16 * yStride + mbX * 16;
        for (int j = 0; j < 16; j++) {
            System.arraycopy(b, Y_OFF + j * BPS, yPlane, yOut + j * yStride, 16);
        }
        int uvOut = mbY * 8 * uvStride + mbX * 8;
        for (int j = 0; j < 8; j++) {
            System.arraycopy(b, U_OFF + j * BPS, uPlane, uvOut + j * uvStride, 8);
            System.arraycopy(b, V_OFF + j * BPS, vPlane, uvOut + j * uvStride, 8);
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Intra prediction (RFC 6386 section 12)

    private int at(int pos) {
        return ws[pos] & 0xFF;
    }

    private void fill(int dst, int size, int value) {
        for (int j = 0; j < size; j++) {
            Arrays.fill(ws, dst + j * BPS, dst + j * BPS + size, (byte) value);
        }
    }

    private void trueMotion(int dst, int size) {
        int top = dst - BPS;
        int topLeft = at(top - 1);
        for (int y = 0; y < size; y++) {
            int left = at(dst + y * BPS - 1);
            for (int x = 0; x < size; x++) {
                int v = at(top + x) + left - topLeft;
                ws[dst + y * BPS + x] = (byte) (v < 0 ? 0 : Math.min(v, 255));
            }
        }
    }

    private void verticalCopy(int dst, int size) {
        for (int j = 0; j < size; j++) {
            System.arraycopy(ws, dst - BPS, ws, dst + j * BPS, size);
        }
    }

    private void horizontalCopy(int dst, int size) {
        for (int j = 0; j < size; j++) {
            Arrays.fill(ws, dst + j * BPS, dst + j * BPS + size, ws[dst + j * BPS - 1]);
        }
    }

    /**
     * Whole-block prediction of a 16x16 luma or 8x8 chroma block ({@code log2Size} 4 or 3): the DC modes average
     * the row above and/or the column to the left with libwebp's rounding.
     */
    private void predictBlock(int mode, int dst, int log2Size) {
        int size = 1 << log2Size;
        switch (mode) {
            case B_DC_PRED -> {
                int dc = size;
                for (int i = 0; i < size; i++) {
                    dc += at(dst + i - BPS) + at(dst - 1 + i * BPS);
                }
                fill(dst, size, dc >> (log2Size + 1));
            }
            case B_TM_PRED -> trueMotion(dst, size);
            case B_VE_PRED -> verticalCopy(dst, size);
            case B_HE_PRED -> horizontalCopy(dst, size);
            case DC_PRED_NOTOP -> {
                int dc = size >> 1;
                for (int i = 0; i < size; i++) {
                    dc += at(dst - 1 + i * BPS);
                }
                fill(dst, size, dc >> log2Size);
            }
            case DC_PRED_NOLEFT -> {
                int dc = size >> 1;
                for (int i = 0; i < size; i++) {
                    dc += at(dst + i - BPS);
                }
                fill(dst, size, dc >> log2Size);
            }
            default -> fill(dst, size, 0x80);
        }
    }

    private static int avg3(int a, int b, int c) {
        return (a + 2 * b + c + 2) >> 2;
    }

    private static int avg2(int a, int b) {
        return (a + b + 1) >> 1;
    }

    private void put(int dst, int x, int y, int v) {
        ws[dst + x + y * BPS] = (byte) v;
    }

    private void predictLuma4(int mode, int dst) {
        int top = dst - BPS;
        switch (mode) {
            case B_DC_PRED -> {
                int dc = 4;
                for (int i = 0; i < 4; i++) {
                    dc += at(top + i) + at(dst - 1 + i * BPS);
                }
                fill(dst, 4, dc >> 3);
            }
            case B_TM_PRED -> trueMotion(dst, 4);
            case B_VE_PRED -> {
                int[] vals = new int[4];
                for (int i = 0; i < 4; i++) {
                    vals[i] = avg3(at(top + i - 1), at(top + i), at(top + i + 1));
                }
                for (int j = 0; j < 4; j++) {
                    for (int i = 0; i < 4; i++) {
                        put(dst, i, j, vals[i]);
                    }
                }
            }
            case B_HE_PRED -> {
                int a = at(dst - 1 - BPS);
                int b = at(dst - 1);
                int c = at(dst - 1 + BPS);
                int d = at(dst - 1 + 2 * BPS);
                int e = at(dst - 1 + 3 * BPS);
                int[] rows = {avg3(a, b, c), avg3(b, c, d), avg3(c, d, e), avg3(d, e, e)};
                for (int j = 0; j < 4; j++) {
                    Arrays.fill(ws, dst + j * BPS, dst + j * BPS + 4, (byte) rows[j]);
                }
            }
            case B_RD_PRED -> {
                int i = at(dst - 1);
                int j = at(dst - 1 + BPS);
                int k = at(dst - 1 + 2 * BPS);
                int l = at(dst - 1 + 3 * BPS);
                int x = at(top - 1);
                int a = at(top);
                int b = at(top + 1);
                int c = at(top + 2);
                int d = at(top + 3);
                put(dst, 0, 3, avg3(j, k, l));
                int v = avg3(i, j, k);
                put(dst, 1, 3, v);
                put(dst, 0, 2, v);
                v = avg3(x, i, j);
                put(dst, 2, 3, v);
                put(dst, 1, 2, v);
                put(dst, 0, 1, v);
                v = avg3(a, x, i);
                put(dst, 3, 3, v);
                put(dst, 2, 2, v);
                put(dst, 1, 1, v);
                put(dst, 0, 0, v);
                v = avg3(b, a, x);
                put(dst, 3, 2, v);
                put(dst, 2, 1, v);
                put(dst, 1, 0, v);
                v = avg3(c, b, a);
                put(dst, 3, 1, v);
                put(dst, 2, 0, v);
                put(dst, 3, 0, avg3(d, c, b));
            }
            case B_VR_PRED -> {
                int i = at(dst - 1);
                int j = at(dst - 1 + BPS);
                int k = at(dst - 1 + 2 * BPS);
                int x = at(top - 1);
                int a = at(top);
                int b = at(top + 1);
                int c = at(top + 2);
                int d = at(top + 3);
                int v = avg2(x, a);
                put(dst, 0, 0, v);
                put(dst, 1, 2, v);
                v = avg2(a, b);
                put(dst, 1, 0, v);
                put(dst, 2, 2, v);
                v = avg2(b, c);
                put(dst, 2, 0, v);
                put(dst, 3, 2, v);
                put(dst, 3, 0, avg2(c, d));
                put(dst, 0, 3, avg3(k, j, i));
                put(dst, 0, 2, avg3(j, i, x));
                v = avg3(i, x, a);
                put(dst, 0, 1, v);
                put(dst, 1, 3, v);
                v = avg3(x, a, b);
                put(dst, 1, 1, v);
                put(dst, 2, 3, v);
                v = avg3(a, b, c);
                put(dst, 2, 1, v);
                put(dst, 3, 3, v);
                put(dst, 3, 1, avg3(b, c, d));
            }
            case B_LD_PRED -> {
                int a = at(top);
                int b = at(top + 1);
                int c = at(top + 2);
                int d = at(top + 3);
                int e = at(top + 4);
                int f = at(top + 5);
                int g = at(top + 6);
                int h = at(top + 7);
                put(dst, 0, 0, avg3(a, b, c));
                int v = avg3(b, c, d);
                put(dst, 1, 0, v);
                put(dst, 0, 1, v);
                v = avg3(c, d, e);
                put(dst, 2, 0, v);
                put(dst, 1, 1, v);
                put(dst, 0, 2, v);
                v = avg3(d, e, f);
                put(dst, 3, 0, v);
                put(dst, 2, 1, v);
                put(dst, 1, 2, v);
                put(dst, 0, 3, v);
                v = avg3(e, f, g);
                put(dst, 3, 1, v);
                put(dst, 2, 2, v);
                put(dst, 1, 3, v);
                v = avg3(f, g, h);
                put(dst, 3, 2, v);
                put(dst, 2, 3, v);
                put(dst, 3, 3, avg3(g, h, h));
            }
            case B_VL_PRED -> {
                int a = at(top);
                int b = at(top + 1);
                int c = at(top + 2);
                int d = at(top + 3);
                int e = at(top + 4);
                int f = at(top + 5);
                int g = at(top + 6);
                int h = at(top + 7);
                put(dst, 0, 0, avg2(a, b));
                int v = avg2(b, c);
                put(dst, 1, 0, v);
                put(dst, 0, 2, v);
                v = avg2(c, d);
                put(dst, 2, 0, v);
                put(dst, 1, 2, v);
                v = avg2(d, e);
                put(dst, 3, 0, v);
                put(dst, 2, 2, v);
                put(dst, 0, 1, avg3(a, b, c));
                v = avg3(b, c, d);
                put(dst, 1, 1, v);
                put(dst, 0, 3, v);
                v = avg3(c, d, e);
                put(dst, 2, 1, v);
                put(dst, 1, 3, v);
                v = avg3(d, e, f);
                put(dst, 3, 1, v);
                put(dst, 2, 3, v);
                put(dst, 3, 2, avg3(e, f, g));
                put(dst, 3, 3, avg3(f, g, h));
            }
            case B_HD_PRED -> {
                int i = at(dst - 1);
                int j = at(dst - 1 + BPS);
                int k = at(dst - 1 + 2 * BPS);
                int l = at(dst - 1 + 3 * BPS);
                int x = at(top - 1);
                int a = at(top);
                int b = at(top + 1);
                int c = at(top + 2);
                int v = avg2(i, x);
                put(dst, 0, 0, v);
                put(dst, 2, 1, v);
                v = avg2(j, i);
                put(dst, 0, 1, v);
                put(dst, 2, 2, v);
                v = avg2(k, j);
                put(dst, 0, 2, v);
                put(dst, 2, 3, v);
                put(dst, 0, 3, avg2(l, k));
                put(dst, 3, 0, avg3(a, b, c));
                put(dst, 2, 0, avg3(x, a, b));
                v = avg3(i, x, a);
                put(dst, 1, 0, v);
                put(dst, 3, 1, v);
                v = avg3(j, i, x);
                put(dst, 1, 1, v);
                put(dst, 3, 2, v);
                v = avg3(k, j, i);
                put(dst, 1, 2, v);
                put(dst, 3, 3, v);
                put(dst, 1, 3, avg3(l, k, j));
            }
            default -> { // B_HU_PRED
                int i = at(dst - 1);
                int j = at(dst - 1 + BPS);
                int k = at(dst - 1 + 2 * BPS);
                int l = at(dst - 1 + 3 * BPS);
                put(dst, 0, 0, avg2(i, j));
                int v = avg2(j, k);
                put(dst, 2, 0, v);
                put(dst, 0, 1, v);
                v = avg2(k, l);
                put(dst, 2, 1, v);
                put(dst, 0, 2, v);
                put(dst, 1, 0, avg3(i, j, k));
                v = avg3(j, k, l);
                put(dst, 3, 0, v);
                put(dst, 1, 1, v);
                v = avg3(k, l, l);
                put(dst, 3, 1, v);
                put(dst, 1, 2, v);
                put(dst, 3, 2, l);
                put(dst, 2, 2, l);
                put(dst, 0, 3, l);
                put(dst, 1, 3, l);
                put(dst, 2, 3, l);
                put(dst, 3, 3, l);
            }
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // Loop filter (RFC 6386 section 15, libwebp's formulation)

    private void precomputeFilterStrengths() {
        if (filterType == 0) {
            return;
        }
        for (int s = 0; s < 4; s++) {
            int baseLevel;
            if (useSegment) {
                baseLevel = segFilterStrength[s];
                if (!absoluteDelta) {
                    baseLevel += filterLevel;
                }
            } else {
                baseLevel = filterLevel;
            }
            for (int i4x4 = 0; i4x4 <= 1; i4x4++) {
                int level = baseLevel;
                if (useLfDelta) {
                    level += refLfDelta[0];
                    if (i4x4 == 1) {
                        level += modeLfDelta[0];
                    }
                }
                level = level < 0 ? 0 : Math.min(level, 63);
                if (level > 0) {
                    int ilevel = level;
                    if (sharpness > 0) {
                        ilevel >>= sharpness > 4 ? 2 : 1;
                        if (ilevel > 9 - sharpness) {
                            ilevel = 9 - sharpness;
                        }
                    }
                    if (ilevel < 1) {
                        ilevel = 1;
                    }
                    fsIlevel[s][i4x4] = ilevel;
                    fsLimit[s][i4x4] = 2 * level + ilevel;
                    fsHev[s][i4x4] = level >= 40 ? 2 : level >= 15 ? 1 : 0;
                } else {
                    fsLimit[s][i4x4] = 0;
                }
            }
        }
    }

    private void filterMacroblock(int mbX, int mbY) {
        int limit = rowLimit[mbX];
        if (limit == 0) {
            return;
        }
        boolean inner = rowInner[mbX];
        int ys = yStride;
        int y = mbY * 16 * ys + mbX * 16;
        byte[] yp = yPlane;
        if (filterType == 1) {
            if (mbX > 0) {
                simpleFilter16(yp, y, 1, ys, limit + 4);
            }
            if (inner) {
                for (int k = 1; k <= 3; k++) {
                    simpleFilter16(yp, y + 4 * k, 1, ys, limit);
                }
            }
            if (mbY > 0) {
                simpleFilter16(yp, y, ys, 1, limit + 4);
            }
            if (inner) {
                for (int k = 1; k <= 3; k++) {
                    simpleFilter16(yp, y + 4 * k * ys, ys, 1, limit);
                }
            }
        } else {
            int uvs = uvStride;
            int uv = mbY * 8 * uvs + mbX * 8;
            int ilevel = rowIlevel[mbX];
            int hev = rowHev[mbX];
            if (mbX > 0) {
                filterLoop26(yp, y, 1, ys, 16, limit + 4, ilevel, hev);
                filterLoop26(uPlane, uv, 1, uvs, 8, limit + 4, ilevel, hev);
                filterLoop26(vPlane, uv, 1, uvs, 8, limit + 4, ilevel, hev);
            }
            if (inner) {
                for (int k = 1; k <= 3; k++) {
                    filterLoop24(yp, y + 4 * k, 1, ys, 16, limit, ilevel, hev);
                }
                filterLoop24(uPlane, uv + 4, 1, uvs, 8, limit, ilevel, hev);
                filterLoop24(vPlane, uv + 4, 1, uvs, 8, limit, ilevel, hev);
            }
            if (mbY > 0) {
                filterLoop26(yp, y, ys, 1, 16, limit + 4, ilevel, hev);
                filterLoop26(uPlane, uv, uvs, 1, 8, limit + 4, ilevel, hev);
                filterLoop26(vPlane, uv, uvs, 1, 8, limit + 4, ilevel, hev);
            }
            if (inner) {
                for (int k = 1; k <= 3; k++) {
                    filterLoop24(yp, y + 4 * k * ys, ys, 1, 16, limit, ilevel, hev);
                }
                filterLoop24(uPlane, uv + 4 * uvs, uvs, 1, 8, limit, ilevel, hev);
                filterLoop24(vPlane, uv + 4 * uvs, uvs, 1, 8, limit, ilevel, hev);
            }
        }
    }

    private static int sclip1(int v) {
        return v < -128 ? -128 : Math.min(v, 127);
    }

    private static int sclip2(int v) {
        return v < -16 ? -16 : Math.min(v, 15);
    }

    private static int clip1(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** Filters 16 positions across an edge: {@code step} crosses the edge, {@code along} moves along it. */
    private static void simpleFilter16(byte[] buf, int p, int step, int along, int thresh) {
        int thresh2 = 2 * thresh + 1;
        for (int i = 0; i < 16; i++, p += along) {
            int p1 = buf[p - 2 * step] & 0xFF;
            int p0 = buf[p - step] & 0xFF;
            int q0 = buf[p] & 0xFF;
            int q1 = buf[p + step] & 0xFF;
            if (4 * Math.abs(p0 - q0) + Math.abs(p1 - q1) <= thresh2) {
                doFilter2(buf, p, step);
            }
        }
    }

    private static void doFilter2(byte[] buf, int p, int step) {
        int p1 = buf[p - 2 * step] & 0xFF;
        int p0 = buf[p - step] & 0xFF;
        int q0 = buf[p] & 0xFF;
        int q1 = buf[p + step] & 0xFF;
        int a = 3 * (q0 - p0) + sclip1(p1 - q1);
        int a1 = sclip2((a + 4) >> 3);
        int a2 = sclip2((a + 3) >> 3);
        buf[p - step] = (byte) clip1(p0 + a2);
        buf[p] = (byte) clip1(q0 - a1);
    }

    private static void doFilter4(byte[] buf, int p, int step) {
        int p1 = buf[p - 2 * step] & 0xFF;
        int p0 = buf[p - step] & 0xFF;
        int q0 = buf[p] & 0xFF;
        int q1 = buf[p + step] & 0xFF;
        int a = 3 * (q0 - p0);
        int a1 = sclip2((a + 4) >> 3);
        int a2 = sclip2((a + 3) >> 3);
        int a3 = (a1 + 1) >> 1;
        buf[p - 2 * step] = (byte) clip1(p1 + a3);
        buf[p - step] = (byte) clip1(p0 + a2);
        buf[p] = (byte) clip1(q0 - a1);
        buf[p + step] = (byte) clip1(q1 - a3);
    }

    private static void doFilter6(byte[] buf, int p, int step) {
        int p2 = buf[p - 3 * step] & 0xFF;
        int p1 = buf[p - 2 * step] & 0xFF;
        int p0 = buf[p - step] & 0xFF;
        int q0 = buf[p] & 0xFF;
        int q1 = buf[p + step] & 0xFF;
        int q2 = buf[p + 2 * step] & 0xFF;
        int a = sclip1(3 * (q0 - p0) + sclip1(p1 - q1));
        int a1 = (27 * a + 63) >> 7;
        int a2 = (18 * a + 63) >> 7;
        int a3 = (9 * a + 63) >> 7;
        buf[p - 3 * step] = (byte) clip1(p2 + a3);
        buf[p - 2 * step] = (byte) clip1(p1 + a2);
        buf[p - step] = (byte) clip1(p0 + a1);
        buf[p] = (byte) clip1(q0 - a1);
        buf[p + step] = (byte) clip1(q1 - a2);
        buf[p + 2 * step] = (byte) clip1(q2 - a3);
    }

    private static boolean hev(byte[] buf, int p, int step, int thresh) {
        int p1 = buf[p - 2 * step] & 0xFF;
        int p0 = buf[p - step] & 0xFF;
        int q0 = buf[p] & 0xFF;
        int q1 = buf[p + step] & 0xFF;
        return Math.abs(p1 - p0) > thresh || Math.abs(q1 - q0) > thresh;
    }

    private static boolean needsFilter2(byte[] buf, int p, int step, int t, int it) {
        int p3 = buf[p - 4 * step] & 0xFF;
        int p2 = buf[p - 3 * step] & 0xFF;
        int p1 = buf[p - 2 * step] & 0xFF;
        int p0 = buf[p - step] & 0xFF;
        int q0 = buf[p] & 0xFF;
        int q1 = buf[p + step] & 0xFF;
        int q2 = buf[p + 2 * step] & 0xFF;
        int q3 = buf[p + 3 * step] & 0xFF;
        if (4 * Math.abs(p0 - q0) + Math.abs(p1 - q1) > t) {
            return false;
        }
        return Math.abs(p3 - p2) <= it && Math.abs(p2 - p1) <= it && Math.abs(p1 - p0) <= it
                && Math.abs(q3 - q2) <= it && Math.abs(q2 - q1) <= it && Math.abs(q1 - q0) <= it;
    }

    /** Macroblock edge: 6-tap filter, or the 2-tap one where the edge variance is high. */
    private static void filterLoop26(byte[] buf, int p, int step, int along, int size, int thresh, int ithresh,
            int hevThresh) {
        int thresh2 = 2 * thresh + 1;
        for (int i = 0; i < size; i++, p += along) {
            if (needsFilter2(buf, p, step, thresh2, ithresh)) {
                if (hev(buf, p, step, hevThresh)) {
                    doFilter2(buf, p, step);
                } else {
                    doFilter6(buf, p, step);
                }
            }
        }
    }

    /** Inner (sub-block) edge: 4-tap filter, or the 2-tap one where the edge variance is high. */
    private static void filterLoop24(byte[] buf, int p, int step, int along, int size, int thresh, int ithresh,
            int hevThresh) {
        int thresh2 = 2 * thresh + 1;
        for (int i = 0; i < size; i++, p += along) {
            if (needsFilter2(buf, p, step, thresh2, ithresh)) {
                if (hev(buf, p, step, hevThresh)) {
                    doFilter2(buf, p, step);
                } else {
                    doFilter4(buf, p, step);
                }
            }
        }
    }

    /** Thrown when the decoding thread is interrupted; {@link WebpDecoder} turns it into a user message. */
    static final class DecodeCancelledException extends RuntimeException {
        DecodeCancelledException() {
            super("decoding was cancelled", null, false, false);
        }
    }
}
