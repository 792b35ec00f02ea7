package io.instella.model.image.webp;

import java.util.Arrays;
import java.util.function.BooleanSupplier;

/**
 * WebP lossless (VP8L) decoder, written from the WebP lossless bitstream specification, with every validity check
 * made the way libwebp 1.2.4 ({@code src/dec/vp8l_dec.c}, which Pillow 9.4 links) makes it, so a file is refused
 * exactly when Pillow refuses it: prefix codes that are incomplete or over-subscribed, a color cache size outside
 * 1..11 bits, a transform given twice, backward references before the first pixel or past the last, and data that
 * ends before the image does. The bit reader reproduces libwebp's 64-bit window bit for bit (including what it reads
 * past the end of the data), because for an alpha plane libwebp accepts a stream whose last symbol overran the data
 * when the plane is complete.
 *
 * <p>Also validates VP8L-compressed alpha planes (the ALPH chunk of a lossy image): libwebp decodes them, and a
 * corrupt plane makes Pillow refuse the file, while the RGB samples never depend on it.
 *
 * <p>Once per pixel row the decoder checks {@link Thread#interrupted()} and the caller's stop check.
 */
final class Vp8lDecoder {

    private static final int NUM_LITERAL_CODES = 256;
    private static final int NUM_LENGTH_CODES = 24;
    private static final int NUM_DISTANCE_CODES = 40;
    private static final int MAX_CACHE_BITS = 11;
    private static final int HUFFMAN_TABLE_BITS = 8;
    private static final int LENGTHS_TABLE_BITS = 7;
    private static final int MAX_ALLOWED_CODE_LENGTH = 15;
    private static final int NUM_CODE_LENGTH_CODES = 19;
    private static final int CODE_TO_PLANE_CODES = 120;
    private static final int ARGB_BLACK = 0xff000000;

    private static final int GREEN = 0;
    private static final int RED = 1;
    private static final int BLUE = 2;
    private static final int ALPHA = 3;
    private static final int DIST = 4;
    private static final int[] ALPHABET_SIZE = {NUM_LITERAL_CODES + NUM_LENGTH_CODES, NUM_LITERAL_CODES,
        NUM_LITERAL_CODES, NUM_LITERAL_CODES, NUM_DISTANCE_CODES};

    private static final int[] CODE_LENGTH_CODE_ORDER = {17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13,
        14, 15};
    private static final int[] CODE_LENGTH_EXTRA_BITS = {2, 3, 7};
    private static final int[] CODE_LENGTH_REPEAT_OFFSETS = {3, 3, 11};

    /** (dy << 4) | (8 - dx) for the 120 short distance codes (spec section 4.2.2). */
    private static final int[] CODE_TO_PLANE = {
        0x18, 0x07, 0x17, 0x19, 0x28, 0x06, 0x27, 0x29, 0x16, 0x1a,
        0x26, 0x2a, 0x38, 0x05, 0x37, 0x39, 0x15, 0x1b, 0x36, 0x3a,
        0x25, 0x2b, 0x48, 0x04, 0x47, 0x49, 0x14, 0x1c, 0x35, 0x3b,
        0x46, 0x4a, 0x24, 0x2c, 0x58, 0x45, 0x4b, 0x34, 0x3c, 0x03,
        0x57, 0x59, 0x13, 0x1d, 0x56, 0x5a, 0x23, 0x2d, 0x44, 0x4c,
        0x55, 0x5b, 0x33, 0x3d, 0x68, 0x02, 0x67, 0x69, 0x12, 0x1e,
        0x66, 0x6a, 0x22, 0x2e, 0x54, 0x5c, 0x43, 0x4d, 0x65, 0x6b,
        0x32, 0x3e, 0x78, 0x01, 0x77, 0x79, 0x53, 0x5d, 0x11, 0x1f,
        0x64, 0x6c, 0x42, 0x4e, 0x76, 0x7a, 0x21, 0x2f, 0x75, 0x7b,
        0x31, 0x3f, 0x63, 0x6d, 0x52, 0x5e, 0x00, 0x74, 0x7c, 0x41,
        0x4f, 0x10, 0x20, 0x62, 0x6e, 0x30, 0x73, 0x7d, 0x51, 0x5f,
        0x40, 0x72, 0x7e, 0x61, 0x6f, 0x50, 0x71, 0x7f, 0x60, 0x70
    };

    private static final int PREDICTOR = 0;
    private static final int CROSS_COLOR = 1;
    private static final int SUBTRACT_GREEN = 2;
    private static final int COLOR_INDEXING = 3;

    // ---------------------------------------------------------------------------------------------------------
    // Bit reader: libwebp's VP8LBitReader (64-bit window, refilled byte by byte, end of stream once a bit past the
    // data has been consumed).

    private final byte[] buf;
    private final int bufStart;
    private final int bufLen;
    private long window;
    private int bytePos;
    private int bitPos;
    private boolean eos;

    private final BooleanSupplier stop;

    /** Transforms in the order read; applied in reverse. */
    private final Transform[] transforms = new Transform[4];
    private int numTransforms;
    private int transformsSeen;

    private Vp8lDecoder(byte[] data, int offset, int length, BooleanSupplier stop) {
        this.buf = data;
        this.bufStart = offset;
        this.bufLen = length;
        this.stop = stop;
        int n = Math.min(length, 8);
        long v = 0;
        for (int i = 0; i < n; i++) {
            v |= (data[offset + i] & 0xFFL) << (8 * i);
        }
        window = v;
        bytePos = n;
    }

    private void setEndOfStream() {
        eos = true;
        bitPos = 0;
    }

    private boolean isEndOfStream() {
        return eos || (bytePos == bufLen && bitPos > 64);
    }

    private void shiftBytes() {
        while (bitPos >= 8 && bytePos < bufLen) {
            window >>>= 8;
            window |= (buf[bufStart + bytePos] & 0xFFL) << 56;
            bytePos++;
            bitPos -= 8;
        }
        if (isEndOfStream()) {
            setEndOfStream();
        }
    }

    private int prefetchBits() {
        return (int) (window >>> (bitPos & 63));
    }

    private void fillBitWindow() {
        if (bitPos >= 32) {
            shiftBytes();
        }
    }

    private int readBits(int n) {
        if (!eos && n <= 24) {
            int v = prefetchBits() & ((1 << n) - 1);
            bitPos += n;
            shiftBytes();
            return v;
        }
        setEndOfStream();
        return 0;
    }

    /** One symbol from a two-level table (root of {@link #HUFFMAN_TABLE_BITS} bits), entries (bits << 16 | value). */
    private int readSymbol(int[] table) {
        if (table.length == 1) {
            return table[0] & 0xFFFF; // a single symbol, coded with zero bits
        }
        int v = prefetchBits();
        int entry = table[v & 0xFF];
        int nbits = (entry >>> 16) - HUFFMAN_TABLE_BITS;
        if (nbits > 0) {
            bitPos += HUFFMAN_TABLE_BITS;
            int v2 = prefetchBits();
            entry = table[(v & 0xFF) + (entry & 0xFFFF) + (v2 & ((1 << nbits) - 1))];
        }
        bitPos += entry >>> 16;
        return entry & 0xFFFF;
    }

    private void checkStop() {
        if (stop != null && stop.getAsBoolean()) {
            throw new WebpDecoder.DecodeStoppedException();
        }
        if (Thread.interrupted()) {
            Thread.currentThread().interrupt();
            throw new Vp8Decoder.DecodeCancelledException();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Entry points

    /**
     * Decodes a VP8L bitstream (the VP8L chunk payload, signature byte included) to ARGB pixels.
     *
     * @param length bytes handed to the bit reader (libwebp: the payload and its padding byte)
     */
    static int[] decodeArgb(byte[] data, int offset, int length, int width, int height, BooleanSupplier stop) {
        Vp8lDecoder dec = new Vp8lDecoder(data, offset, length, stop);
        // ReadImageInfo: the sizes were checked by the container; re-read them as libwebp does.
        if (dec.readBits(8) != 0x2f) {
            throw new WebpFormatException("VP8L chunk lacks the signature byte 0x2f");
        }
        int w = dec.readBits(14) + 1;
        int h = dec.readBits(14) + 1;
        dec.readBits(1);
        int version = dec.readBits(3);
        if (version != 0 || dec.eos || w != width || h != height) {
            throw new WebpFormatException("VP8L header is invalid");
        }
        return dec.decodeLevel0(width, height, false);
    }

    /**
     * Validates a VP8L-compressed alpha plane (ALPH method 1; the bytes after the ALPH header byte) as libwebp's
     * {@code VP8LDecodeAlphaHeader} / {@code VP8LDecodeAlphaImageStream} do; throws when libwebp would fail.
     */
    static void validateAlpha(byte[] data, int offset, int length, int width, int height, BooleanSupplier stop) {
        Vp8lDecoder dec = new Vp8lDecoder(data, offset, length, stop);
        dec.decodeLevel0(width, height, true);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Image streams

    /** Prefix-code groups of one image stream, with the optional entropy image selecting a group per tile. */
    private static final class Meta {
        int[] huffmanImage;
        int huffmanBits;
        int huffmanXsize;
        int huffmanMask = ~0;
        HTreeGroup[] groups;
        int colorCacheBits;
    }

    private static final class HTreeGroup {
        final int[][] trees = new int[5][];
        /** Red, blue and alpha codes each have a single symbol (read with no bits). */
        boolean trivialLiteral;
    }

    private static final class Transform {
        int type;
        int bits;
        int xsize;
        int ysize;
        int[] data;
    }

    private int[] decodeLevel0(int xsize, int ysize, boolean alpha) {
        int transformXsize = xsize;
        while (readBits(1) != 0) {
            transformXsize = readTransform(transformXsize, ysize);
        }
        int cacheBits = readColorCacheBits();
        Meta meta = readHuffmanCodes(transformXsize, ysize, cacheBits, true);
        updateMeta(meta, transformXsize);
        if (alpha) {
            if (numTransforms == 1 && transforms[0].type == COLOR_INDEXING && is8bOptimizable(meta)) {
                decodeAlphaData(transformXsize, ysize, meta);
            } else {
                decodeImageData(new int[Math.multiplyExact(transformXsize, ysize)], transformXsize, ysize, meta);
            }
            return null;
        }
        int[] pixels = new int[Math.multiplyExact(transformXsize, ysize)];
        decodeImageData(pixels, transformXsize, ysize, meta);
        for (int n = numTransforms - 1; n >= 0; n--) {
            pixels = inverseTransform(transforms[n], pixels);
        }
        return pixels;
    }

    /** A sub-image (entropy image, transform data, palette): no transforms, no meta prefix codes. */
    private int[] decodeSubImage(int xsize, int ysize) {
        int cacheBits = readColorCacheBits();
        Meta meta = readHuffmanCodes(xsize, ysize, cacheBits, false);
        updateMeta(meta, xsize);
        int[] data = new int[Math.multiplyExact(xsize, ysize)];
        decodeImageData(data, xsize, ysize, meta);
        if (eos) {
            throw truncated();
        }
        return data;
    }

    private int readColorCacheBits() {
        if (readBits(1) == 0) {
            return 0;
        }
        int bits = readBits(4);
        if (bits < 1 || bits > MAX_CACHE_BITS) {
            throw new WebpFormatException("VP8L color cache size of " + bits + " bits is invalid (1 to "
                    + MAX_CACHE_BITS + " allowed)");
        }
        return bits;
    }

    private static void updateMeta(Meta meta, int width) {
        meta.huffmanXsize = subSampleSize(width, meta.huffmanBits);
        meta.huffmanMask = meta.huffmanBits == 0 ? ~0 : (1 << meta.huffmanBits) - 1;
    }

    private static int subSampleSize(int size, int bits) {
        return (size + (1 << bits) - 1) >> bits;
    }

    private int readTransform(int xsize, int ysize) {
        int type = readBits(2);
        if ((transformsSeen & (1 << type)) != 0) {
            throw new WebpFormatException("VP8L transform " + transformName(type) + " appears twice");
        }
        transformsSeen |= 1 << type;
        Transform t = new Transform();
        t.type = type;
        t.xsize = xsize;
        t.ysize = ysize;
        transforms[numTransforms++] = t;
        switch (type) {
            case PREDICTOR, CROSS_COLOR -> {
                t.bits = readBits(3) + 2;
                t.data = decodeSubImage(subSampleSize(xsize, t.bits), subSampleSize(ysize, t.bits));
            }
            case COLOR_INDEXING -> {
                int numColors = readBits(8) + 1;
                int bits = numColors > 16 ? 0 : numColors > 4 ? 1 : numColors > 2 ? 2 : 3;
                t.bits = bits;
                int[] palette = decodeSubImage(numColors, 1);
                // Palette entries are coded as differences from the previous entry; the tail is transparent black.
                int[] map = new int[1 << (8 >> bits)];
                map[0] = palette[0];
                for (int i = 1; i < numColors; i++) {
                    map[i] = addPixels(palette[i], map[i - 1]);
                }
                t.data = map;
                return subSampleSize(xsize, bits);
            }
            default -> {
                // subtract green: no data
            }
        }
        return xsize;
    }

    private static String transformName(int type) {
        return switch (type) {
            case PREDICTOR -> "'predictor'";
            case CROSS_COLOR -> "'cross-color'";
            case SUBTRACT_GREEN -> "'subtract-green'";
            default -> "'color-indexing'";
        };
    }

    // ---------------------------------------------------------------------------------------------------------
    // Prefix codes

    private Meta readHuffmanCodes(int xsize, int ysize, int cacheBits, boolean allowRecursion) {
        Meta meta = new Meta();
        meta.colorCacheBits = cacheBits;
        int numGroups = 1;
        int numGroupsMax = 1;
        int[] mapping = null;
        if (allowRecursion && readBits(1) != 0) {
            int precision = readBits(3) + 2;
            int hx = subSampleSize(xsize, precision);
            int hy = subSampleSize(ysize, precision);
            int[] image = decodeSubImage(hx, hy);
            meta.huffmanBits = precision;
            for (int i = 0; i < image.length; i++) {
                int group = (image[i] >> 8) & 0xffff;
                image[i] = group;
                if (group >= numGroupsMax) {
                    numGroupsMax = group + 1;
                }
            }
            if (numGroupsMax > 1000 || numGroupsMax > (long) xsize * ysize) {
                // Renumber the groups in use; the unused ones are read and checked but not kept (as libwebp).
                mapping = new int[numGroupsMax];
                Arrays.fill(mapping, -1);
                numGroups = 0;
                for (int i = 0; i < image.length; i++) {
                    int g = image[i];
                    if (mapping[g] == -1) {
                        mapping[g] = numGroups++;
                    }
                    image[i] = mapping[g];
                }
            } else {
                numGroups = numGroupsMax;
            }
            meta.huffmanImage = image;
        }
        if (eos) {
            throw truncated();
        }
        int maxAlphabet = ALPHABET_SIZE[0] + (cacheBits > 0 ? 1 << cacheBits : 0);
        int[] codeLengths = new int[Math.max(maxAlphabet, NUM_LITERAL_CODES)];
        int[] scratchTable = new int[1 << 13];
        meta.groups = new HTreeGroup[numGroups];
        for (int i = 0; i < numGroupsMax; i++) {
            if (i % 64 == 63) {
                checkStop();
            }
            boolean keep = mapping == null || mapping[i] != -1;
            HTreeGroup group = keep ? new HTreeGroup() : null;
            for (int j = 0; j < 5; j++) {
                int alphabetSize = ALPHABET_SIZE[j] + (j == 0 && cacheBits > 0 ? 1 << cacheBits : 0);
                int size = readHuffmanCode(alphabetSize, codeLengths, keep ? scratchTable : null);
                if (keep) {
                    // A single-symbol code fills its table with one zero-bit entry: keep just that entry.
                    boolean single = (scratchTable[0] >>> 16) == 0;
                    group.trees[j] = single ? new int[] {scratchTable[0]} : Arrays.copyOf(scratchTable, size);
                }
            }
            if (keep) {
                group.trivialLiteral = (group.trees[RED][0] >>> 16) == 0 && (group.trees[BLUE][0] >>> 16) == 0
                        && (group.trees[ALPHA][0] >>> 16) == 0;
                meta.groups[mapping == null ? i : mapping[i]] = group;
            }
        }
        return meta;
    }

    /** Reads one prefix code; returns its table size (libwebp's ReadHuffmanCode), throws where libwebp fails. */
    private int readHuffmanCode(int alphabetSize, int[] codeLengths, int[] table) {
        Arrays.fill(codeLengths, 0, alphabetSize, 0);
        boolean simple = readBits(1) != 0;
        if (simple) {
            int numSymbols = readBits(1) + 1;
            int firstSymbolLenCode = readBits(1);
            int symbol = readBits(firstSymbolLenCode == 0 ? 1 : 8);
            if (symbol < alphabetSize) {
                codeLengths[symbol] = 1;
            }
            if (numSymbols == 2) {
                symbol = readBits(8);
                if (symbol < alphabetSize) {
                    codeLengths[symbol] = 1;
                }
            }
        } else {
            int[] codeLengthCodeLengths = new int[NUM_CODE_LENGTH_CODES];
            int numCodes = readBits(4) + 4;
            if (numCodes > NUM_CODE_LENGTH_CODES) {
                throw new WebpFormatException("VP8L prefix code declares " + numCodes + " code length codes (at most "
                        + NUM_CODE_LENGTH_CODES + ")");
            }
            for (int i = 0; i < numCodes; i++) {
                codeLengthCodeLengths[CODE_LENGTH_CODE_ORDER[i]] = readBits(3);
            }
            readCodeLengths(codeLengthCodeLengths, alphabetSize, codeLengths);
        }
        if (eos) {
            throw truncated();
        }
        int size = buildHuffmanTable(table, HUFFMAN_TABLE_BITS, codeLengths, alphabetSize);
        if (size == 0) {
            throw invalidCode();
        }
        return size;
    }

    private void readCodeLengths(int[] codeLengthCodeLengths, int numSymbols, int[] codeLengths) {
        int[] table = new int[1 << LENGTHS_TABLE_BITS];
        if (buildHuffmanTable(table, LENGTHS_TABLE_BITS, codeLengthCodeLengths, NUM_CODE_LENGTH_CODES) == 0) {
            throw invalidCode();
        }
        int maxSymbol;
        if (readBits(1) != 0) {
            int lengthNbits = 2 + 2 * readBits(3);
            maxSymbol = 2 + readBits(lengthNbits);
            if (maxSymbol > numSymbols) {
                throw new WebpFormatException("VP8L prefix code lists " + maxSymbol + " code lengths for an alphabet "
                        + "of " + numSymbols + " symbols");
            }
        } else {
            maxSymbol = numSymbols;
        }
        int prevCodeLen = 8;
        int symbol = 0;
        while (symbol < numSymbols) {
            if (maxSymbol-- == 0) {
                break;
            }
            fillBitWindow();
            int entry = table[prefetchBits() & ((1 << LENGTHS_TABLE_BITS) - 1)];
            bitPos += entry >>> 16;
            int codeLen = entry & 0xFFFF;
            if (codeLen < 16) {
                codeLengths[symbol++] = codeLen;
                if (codeLen != 0) {
                    prevCodeLen = codeLen;
                }
            } else {
                int slot = codeLen - 16;
                int repeat = readBits(CODE_LENGTH_EXTRA_BITS[slot]) + CODE_LENGTH_REPEAT_OFFSETS[slot];
                if (symbol + repeat > numSymbols) {
                    throw new WebpFormatException("VP8L prefix code lengths repeat past the end of the alphabet");
                }
                int length = codeLen == 16 ? prevCodeLen : 0;
                while (repeat-- > 0) {
                    codeLengths[symbol++] = length;
                }
            }
        }
    }

    /**
     * Builds a lookup table for a canonical prefix code, or only checks the code when {@code rootTable} is null
     * (libwebp's BuildHuffmanTable). Returns the table size, or 0 when the code is empty, over-subscribed or
     * incomplete (a single symbol of any length is a valid zero-bit code).
     */
    static int buildHuffmanTable(int[] rootTable, int rootBits, int[] codeLengths, int codeLengthsSize) {
        int totalSize = 1 << rootBits;
        int[] count = new int[MAX_ALLOWED_CODE_LENGTH + 1];
        int[] offset = new int[MAX_ALLOWED_CODE_LENGTH + 1];
        for (int symbol = 0; symbol < codeLengthsSize; symbol++) {
            if (codeLengths[symbol] > MAX_ALLOWED_CODE_LENGTH) {
                return 0;
            }
            count[codeLengths[symbol]]++;
        }
        if (count[0] == codeLengthsSize) {
            return 0;
        }
        offset[1] = 0;
        for (int len = 1; len < MAX_ALLOWED_CODE_LENGTH; len++) {
            if (count[len] > (1 << len)) {
                return 0;
            }
            offset[len + 1] = offset[len] + count[len];
        }
        int[] sorted = rootTable == null ? null : new int[codeLengthsSize];
        for (int symbol = 0; symbol < codeLengthsSize; symbol++) {
            int len = codeLengths[symbol];
            if (len > 0) {
                if (sorted != null) {
                    sorted[offset[len]] = symbol;
                }
                offset[len]++;
            }
        }
        if (offset[MAX_ALLOWED_CODE_LENGTH] == 1) {
            if (sorted != null) {
                Arrays.fill(rootTable, 0, totalSize, sorted[0]); // zero bits, the only symbol
            }
            return totalSize;
        }
        int tableOff = 0;
        int low = -1;
        int mask = totalSize - 1;
        int key = 0;
        int numNodes = 1;
        int numOpen = 1;
        int tableBits = rootBits;
        int tableSize = 1 << tableBits;
        int symbol = 0;
        int len;
        int step;
        for (len = 1, step = 2; len <= rootBits; ++len, step <<= 1) {
            numOpen <<= 1;
            numNodes += numOpen;
            numOpen -= count[len];
            if (numOpen < 0) {
                return 0;
            }
            if (rootTable == null) {
                continue;
            }
            for (; count[len] > 0; --count[len]) {
                replicate(rootTable, key, step, tableSize, (len << 16) | sorted[symbol++]);
                key = nextKey(key, len);
            }
        }
        for (len = rootBits + 1, step = 2; len <= MAX_ALLOWED_CODE_LENGTH; ++len, step <<= 1) {
            numOpen <<= 1;
            numNodes += numOpen;
            numOpen -= count[len];
            if (numOpen < 0) {
                return 0;
            }
            if (rootTable == null) {
                continue;
            }
            for (; count[len] > 0; --count[len]) {
                if ((key & mask) != low) {
                    tableOff += tableSize;
                    tableBits = nextTableBitSize(count, len, rootBits);
                    tableSize = 1 << tableBits;
                    totalSize += tableSize;
                    low = key & mask;
                    rootTable[low] = ((tableBits + rootBits) << 16) | (tableOff - low);
                }
                replicate(rootTable, tableOff + (key >>> rootBits), step, tableSize,
                        ((len - rootBits) << 16) | sorted[symbol++]);
                key = nextKey(key, len);
            }
        }
        if (numNodes != 2 * offset[MAX_ALLOWED_CODE_LENGTH] - 1) {
            return 0;
        }
        return totalSize;
    }

    private static int nextKey(int key, int len) {
        int step = 1 << (len - 1);
        while ((key & step) != 0) {
            step >>= 1;
        }
        return step != 0 ? (key & (step - 1)) + step : key;
    }

    private static void replicate(int[] table, int base, int step, int end, int code) {
        do {
            end -= step;
            table[base + end] = code;
        } while (end > 0);
    }

    private static int nextTableBitSize(int[] count, int len, int rootBits) {
        int left = 1 << (len - rootBits);
        while (len < MAX_ALLOWED_CODE_LENGTH) {
            left -= count[len];
            if (left <= 0) {
                break;
            }
            ++len;
            left <<= 1;
        }
        return len - rootBits;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Entropy-coded pixels

    private int getCopyDistance(int symbol) {
        if (symbol < 4) {
            return symbol + 1;
        }
        int extraBits = (symbol - 2) >> 1;
        int offset = (2 + (symbol & 1)) << extraBits;
        return offset + readBits(extraBits) + 1;
    }

    private static int planeCodeToDistance(int xsize, int planeCode) {
        if (planeCode > CODE_TO_PLANE_CODES) {
            return planeCode - CODE_TO_PLANE_CODES;
        }
        int distCode = CODE_TO_PLANE[planeCode - 1];
        int yoffset = distCode >> 4;
        int xoffset = 8 - (distCode & 0xf);
        int dist = yoffset * xsize + xoffset;
        return dist >= 1 ? dist : 1;
    }

    private static HTreeGroup groupAt(Meta meta, int x, int y) {
        if (meta.huffmanBits == 0) {
            return meta.groups[0];
        }
        return meta.groups[meta.huffmanImage[meta.huffmanXsize * (y >> meta.huffmanBits) + (x >> meta.huffmanBits)]];
    }

    /** libwebp's DecodeImageData (32-bit pixels): any read past the end of the data fails the decode. */
    private void decodeImageData(int[] data, int width, int height, Meta meta) {
        int end = data.length;
        int cacheBits = meta.colorCacheBits;
        int[] cache = cacheBits > 0 ? new int[1 << cacheBits] : null;
        int cacheShift = 32 - cacheBits;
        int lenCodeLimit = NUM_LITERAL_CODES + NUM_LENGTH_CODES;
        int mask = meta.huffmanMask;
        int pos = 0;
        int col = 0;
        int row = 0;
        int lastCached = 0;
        HTreeGroup group = end > 0 ? groupAt(meta, 0, 0) : null;
        while (pos < end) {
            if ((col & mask) == 0) {
                group = groupAt(meta, col, row);
            }
            fillBitWindow();
            int code = readSymbol(group.trees[GREEN]);
            if (isEndOfStream()) {
                break;
            }
            if (code < NUM_LITERAL_CODES) {
                if (group.trivialLiteral) {
                    data[pos] = (group.trees[ALPHA][0] & 0xFF) << 24 | (group.trees[RED][0] & 0xFF) << 16
                            | code << 8 | (group.trees[BLUE][0] & 0xFF);
                } else {
                    int red = readSymbol(group.trees[RED]);
                    fillBitWindow();
                    int blue = readSymbol(group.trees[BLUE]);
                    int alpha = readSymbol(group.trees[ALPHA]);
                    if (isEndOfStream()) {
                        break;
                    }
                    data[pos] = alpha << 24 | red << 16 | code << 8 | blue;
                }
                pos++;
                col++;
                if (col >= width) {
                    col = 0;
                    row++;
                    checkStop();
                }
            } else if (code < lenCodeLimit) {
                int length = getCopyDistance(code - NUM_LITERAL_CODES);
                int distSymbol = readSymbol(group.trees[DIST]);
                fillBitWindow();
                int dist = planeCodeToDistance(width, getCopyDistance(distSymbol));
                if (isEndOfStream()) {
                    break;
                }
                if (pos < dist || end - pos < length) {
                    throw new WebpFormatException("VP8L backward reference (distance " + dist + ", length " + length
                            + ") points outside the image");
                }
                for (int i = 0; i < length; i++) {
                    data[pos + i] = data[pos + i - dist];
                }
                pos += length;
                col += length;
                while (col >= width) {
                    col -= width;
                    row++;
                    checkStop();
                }
                if ((col & mask) != 0) {
                    group = groupAt(meta, col, row);
                }
            } else {
                // Color cache: every earlier pixel is in it before the lookup.
                while (lastCached < pos) {
                    int argb = data[lastCached++];
                    cache[(argb * 0x1e35a7bd) >>> cacheShift] = argb;
                }
                data[pos] = cache[code - lenCodeLimit];
                pos++;
                col++;
                if (col >= width) {
                    col = 0;
                    row++;
                    checkStop();
                }
            }
            if (cache != null) {
                while (lastCached < pos) {
                    int argb = data[lastCached++];
                    cache[(argb * 0x1e35a7bd) >>> cacheShift] = argb;
                }
            }
        }
        eos = isEndOfStream();
        if (eos) {
            throw truncated();
        }
    }

    /**
     * libwebp's DecodeAlphaData (8-bit path for a palette-only alpha plane): here a read past the end of the data is
     * accepted when the plane is complete. Only the verdict matters; the indexes are kept for backward references.
     */
    private void decodeAlphaData(int width, int height, Meta meta) {
        byte[] data = new byte[Math.multiplyExact(width, height)];
        int end = data.length;
        int pos = 0;
        int col = 0;
        int row = 0;
        int mask = meta.huffmanMask;
        int lenCodeLimit = NUM_LITERAL_CODES + NUM_LENGTH_CODES;
        HTreeGroup group = end > 0 ? groupAt(meta, 0, 0) : null;
        while (!eos && pos < end) {
            if ((col & mask) == 0) {
                group = groupAt(meta, col, row);
            }
            fillBitWindow();
            int code = readSymbol(group.trees[GREEN]);
            if (code < NUM_LITERAL_CODES) {
                data[pos] = (byte) code;
                pos++;
                col++;
                if (col >= width) {
                    col = 0;
                    row++;
                    checkStop();
                }
            } else if (code < lenCodeLimit) {
                int length = getCopyDistance(code - NUM_LITERAL_CODES);
                int distSymbol = readSymbol(group.trees[DIST]);
                fillBitWindow();
                int dist = planeCodeToDistance(width, getCopyDistance(distSymbol));
                if (pos >= dist && end - pos >= length) {
                    for (int i = 0; i < length; i++) {
                        data[pos + i] = data[pos + i - dist];
                    }
                } else {
                    throw new WebpFormatException("ALPH plane: backward reference (distance " + dist + ", length "
                            + length + ") points outside the plane");
                }
                pos += length;
                col += length;
                while (col >= width) {
                    col -= width;
                    row++;
                    checkStop();
                }
                if (pos < end && (col & mask) != 0) {
                    group = groupAt(meta, col, row);
                }
            } else {
                throw invalidCode();
            }
            eos = isEndOfStream();
        }
        eos = isEndOfStream();
        if (eos && pos < end) {
            throw truncated();
        }
    }

    private static boolean is8bOptimizable(Meta meta) {
        if (meta.colorCacheBits > 0) {
            return false;
        }
        for (HTreeGroup g : meta.groups) {
            if ((g.trees[RED][0] >>> 16) > 0 || (g.trees[BLUE][0] >>> 16) > 0 || (g.trees[ALPHA][0] >>> 16) > 0) {
                return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Inverse transforms (libwebp's lossless.c arithmetic)

    private int[] inverseTransform(Transform t, int[] in) {
        int width = t.xsize;
        int height = t.ysize;
        switch (t.type) {
            case SUBTRACT_GREEN -> {
                for (int y = 0; y < height; y++) {
                    checkStop();
                    for (int i = y * width, e = i + width; i < e; i++) {
                        int argb = in[i];
                        int green = (argb >> 8) & 0xff;
                        int redBlue = ((argb & 0x00ff00ff) + ((green << 16) | green)) & 0x00ff00ff;
                        in[i] = (argb & 0xff00ff00) | redBlue;
                    }
                }
                return in;
            }
            case PREDICTOR -> {
                predictorInverse(t, in, width, height);
                return in;
            }
            case CROSS_COLOR -> {
                crossColorInverse(t, in, width, height);
                return in;
            }
            default -> {
                return colorIndexInverse(t, in, width, height);
            }
        }
    }

    private void predictorInverse(Transform t, int[] px, int width, int height) {
        // First row: black then left.
        px[0] = addPixels(px[0], ARGB_BLACK);
        for (int x = 1; x < width; x++) {
            px[x] = addPixels(px[x], px[x - 1]);
        }
        int tilesPerRow = subSampleSize(width, t.bits);
        for (int y = 1; y < height; y++) {
            checkStop();
            int rowStart = y * width;
            px[rowStart] = addPixels(px[rowStart], px[rowStart - width]);
            int modeBase = (y >> t.bits) * tilesPerRow;
            for (int x = 1; x < width; x++) {
                int mode = (t.data[modeBase + (x >> t.bits)] >> 8) & 0xf;
                int i = rowStart + x;
                px[i] = addPixels(px[i], predict(mode, px, i, width));
            }
        }
    }

    private static int predict(int mode, int[] px, int i, int width) {
        int top = i - width;
        return switch (mode) {
            case 1 -> px[i - 1];
            case 2 -> px[top];
            case 3 -> px[top + 1];
            case 4 -> px[top - 1];
            case 5 -> average2(average2(px[i - 1], px[top + 1]), px[top]);
            case 6 -> average2(px[i - 1], px[top - 1]);
            case 7 -> average2(px[i - 1], px[top]);
            case 8 -> average2(px[top - 1], px[top]);
            case 9 -> average2(px[top], px[top + 1]);
            case 10 -> average2(average2(px[i - 1], px[top - 1]), average2(px[top], px[top + 1]));
            case 11 -> select(px[top], px[i - 1], px[top - 1]);
            case 12 -> clampedAddSubtractFull(px[i - 1], px[top], px[top - 1]);
            case 13 -> clampedAddSubtractHalf(px[i - 1], px[top], px[top - 1]);
            default -> ARGB_BLACK; // 0, and the unused 14 and 15
        };
    }

    private static int addPixels(int a, int b) {
        int alphaGreen = (a & 0xff00ff00) + (b & 0xff00ff00);
        int redBlue = (a & 0x00ff00ff) + (b & 0x00ff00ff);
        return (alphaGreen & 0xff00ff00) | (redBlue & 0x00ff00ff);
    }

    private static int average2(int a, int b) {
        return (((a ^ b) & 0xfefefefe) >>> 1) + (a & b);
    }

    private static int clip255(int a) {
        if ((a & ~0xff) == 0) {
            return a;
        }
        return a < 0 ? 0 : 255;
    }

    private static int clampedAddSubtractFull(int c0, int c1, int c2) {
        int a = clip255((c0 >>> 24) + (c1 >>> 24) - (c2 >>> 24));
        int r = clip255(((c0 >> 16) & 0xff) + ((c1 >> 16) & 0xff) - ((c2 >> 16) & 0xff));
        int g = clip255(((c0 >> 8) & 0xff) + ((c1 >> 8) & 0xff) - ((c2 >> 8) & 0xff));
        int b = clip255((c0 & 0xff) + (c1 & 0xff) - (c2 & 0xff));
        return a << 24 | r << 16 | g << 8 | b;
    }

    private static int addSubtractHalf(int a, int b) {
        return clip255(a + (a - b) / 2);
    }

    private static int clampedAddSubtractHalf(int c0, int c1, int c2) {
        int ave = average2(c0, c1);
        int a = addSubtractHalf(ave >>> 24, c2 >>> 24);
        int r = addSubtractHalf((ave >> 16) & 0xff, (c2 >> 16) & 0xff);
        int g = addSubtractHalf((ave >> 8) & 0xff, (c2 >> 8) & 0xff);
        int b = addSubtractHalf(ave & 0xff, c2 & 0xff);
        return a << 24 | r << 16 | g << 8 | b;
    }

    private static int sub3(int a, int b, int c) {
        return Math.abs(b - c) - Math.abs(a - c);
    }

    private static int select(int a, int b, int c) {
        int paMinusPb = sub3(a >>> 24, b >>> 24, c >>> 24)
                + sub3((a >> 16) & 0xff, (b >> 16) & 0xff, (c >> 16) & 0xff)
                + sub3((a >> 8) & 0xff, (b >> 8) & 0xff, (c >> 8) & 0xff)
                + sub3(a & 0xff, b & 0xff, c & 0xff);
        return paMinusPb <= 0 ? a : b;
    }

    private void crossColorInverse(Transform t, int[] px, int width, int height) {
        int tilesPerRow = subSampleSize(width, t.bits);
        for (int y = 0; y < height; y++) {
            checkStop();
            int codeBase = (y >> t.bits) * tilesPerRow;
            for (int x = 0; x < width; x++) {
                int code = t.data[codeBase + (x >> t.bits)];
                int greenToRed = (byte) code;
                int greenToBlue = (byte) (code >> 8);
                int redToBlue = (byte) (code >> 16);
                int i = y * width + x;
                int argb = px[i];
                int green = (byte) (argb >> 8);
                int newRed = (argb >> 16) & 0xff;
                int newBlue = argb & 0xff;
                newRed += (greenToRed * green) >> 5;
                newRed &= 0xff;
                newBlue += (greenToBlue * green) >> 5;
                newBlue += (redToBlue * (byte) newRed) >> 5;
                newBlue &= 0xff;
                px[i] = (argb & 0xff00ff00) | (newRed << 16) | newBlue;
            }
        }
    }

    private int[] colorIndexInverse(Transform t, int[] in, int width, int height) {
        int[] map = t.data;
        int[] out = new int[Math.multiplyExact(width, height)];
        int bitsPerPixel = 8 >> t.bits;
        int inWidth = subSampleSize(width, t.bits);
        int countMask = (1 << t.bits) - 1;
        int bitMask = (1 << bitsPerPixel) - 1;
        for (int y = 0; y < height; y++) {
            checkStop();
            int src = y * inWidth;
            int dst = y * width;
            if (bitsPerPixel < 8) {
                int packed = 0;
                for (int x = 0; x < width; x++) {
                    if ((x & countMask) == 0) {
                        packed = (in[src++] >> 8) & 0xff;
                    }
                    out[dst++] = map[packed & bitMask];
                    packed >>= bitsPerPixel;
                }
            } else {
                for (int x = 0; x < width; x++) {
                    out[dst++] = map[(in[src++] >> 8) & 0xff];
                }
            }
        }
        return out;
    }

    private static WebpFormatException truncated() {
        return new WebpFormatException("lossless (VP8L) data ends before the image is complete (file truncated or "
                + "corrupt)");
    }

    private static WebpFormatException invalidCode() {
        return new WebpFormatException("lossless (VP8L) data holds an invalid prefix (Huffman) code");
    }
}
