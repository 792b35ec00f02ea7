package io.instella.model.image.webp;

/**
 * The VP8 boolean entropy decoder (RFC 6386 section 7), arithmetic identical to libwebp's {@code VP8GetBit} /
 * {@code VP8GetSigned}. Reading past the end of the partition feeds zero bits and raises {@link #eof()} at exactly
 * the point libwebp raises its {@code eof_} flag, so truncated streams are refused where libwebp refuses them.
 */
final class Vp8BoolDecoder {

    private final byte[] buf;
    private int pos;
    private final int end;

    /** {@code range - 1}, 127..254 between calls. */
    private int range;
    /** Bits not yet consumed; the decoder looks at {@code value >>> bits}. */
    private long value;
    /** Number of buffered bits beyond the 8 the decoder looks at; negative means "load a byte". */
    private int bits;
    private boolean eof;

    Vp8BoolDecoder(byte[] buf, int offset, int length) {
        this.buf = buf;
        this.pos = offset;
        this.end = offset + length;
        this.range = 255 - 1;
        this.value = 0;
        this.bits = -8;
        this.eof = false;
        loadByte();
    }

    boolean eof() {
        return eof;
    }

    private void loadByte() {
        if (pos < end) {
            bits += 8;
            value = (buf[pos++] & 0xFF) | (value << 8);
        } else if (!eof) {
            value <<= 8;
            bits += 8;
            eof = true;
        } else {
            bits = 0;
        }
    }

    /** One bool whose probability of being 0 is {@code prob / 256}. */
    int bit(int prob) {
        int r = range;
        if (bits < 0) {
            loadByte();
        }
        int p = bits;
        int split = (r * prob) >>> 8;
        int v = (int) (value >>> p);
        int bit;
        if (v > split) {
            r -= split;
            value -= (long) (split + 1) << p;
            bit = 1;
        } else {
            r = split + 1;
            bit = 0;
        }
        int shift = 7 ^ (31 - Integer.numberOfLeadingZeros(r));
        r <<= shift;
        bits -= shift;
        range = r - 1;
        return bit;
    }

    /** An unsigned {@code n}-bit literal, most significant bit first, each bit at probability 128. */
    int literal(int n) {
        int v = 0;
        while (n-- > 0) {
            v |= bit(0x80) << n;
        }
        return v;
    }

    /** A magnitude of {@code n} bits followed by a sign bit (RFC 6386 "L(n)" then sign). */
    int signedLiteral(int n) {
        int v = literal(n);
        return bit(0x80) == 1 ? -v : v;
    }

    /** Applies an equiprobable sign bit to {@code v} (libwebp's {@code VP8GetSigned}). */
    int signed(int v) {
        if (bits < 0) {
            loadByte();
        }
        int p = bits;
        int split = range >>> 1;
        int val = (int) (value >>> p);
        int mask = (split - val) >> 31;
        bits -= 1;
        range += mask;
        range |= 1;
        value -= (long) ((split + 1) & mask) << p;
        return (v ^ mask) - mask;
    }
}
