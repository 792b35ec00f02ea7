package io.instella.model.image.webp;

/**
 * The VP8 boolean entropy decoder (RFC 6386 section 7), register for register as libwebp's {@code VP8BitReader}
 * on 64-bit targets (a 64-bit value window refilled 56 bits at a time while at least 8 bytes remain, then byte by
 * byte; {@code VP8GetBit} / {@code VP8GetSigned} with their 32-bit comparisons). Valid streams decode the same
 * with any refill strategy; corrupt ones (whose value exceeds the range) only decode like Pillow's libwebp when
 * the register arithmetic is the same, so it is. Reading past the end feeds zero bits and raises {@link #eof()}
 * where libwebp raises its {@code eof_} flag.
 */
final class Vp8BoolDecoder {

    /** Bits added by one bulk refill (libwebp's BITS on 64-bit targets). */
    private static final int BITS = 56;

    private final byte[] buf;
    private int pos;
    private final int end;
    /** Bulk refills (which read 8 bytes) happen while {@code pos < max}. */
    private final int max;

    /** {@code range - 1}, 127..254 between calls on valid streams. */
    private int range;
    /** Unsigned 64-bit window; the decoder looks at {@code value >>> bits}. */
    private long value;
    /** Number of buffered bits beyond the 8 the decoder looks at; negative means "refill". */
    private int bits;
    private boolean eof;

    Vp8BoolDecoder(byte[] buf, int offset, int length) {
        this.buf = buf;
        this.pos = offset;
        this.end = offset + length;
        this.max = length >= 8 ? offset + length - 8 + 1 : offset;
        this.range = 255 - 1;
        this.value = 0;
        this.bits = -8;
        this.eof = false;
        load();
    }

    boolean eof() {
        return eof;
    }

    private void load() {
        if (pos < max) {
            // Seven bytes, big-endian, below the bits already held (the top ones fall off as in a uint64_t).
            long in = 0;
            for (int i = 0; i < 7; i++) {
                in = (in << 8) | (buf[pos + i] & 0xFFL);
            }
            pos += 7;
            value = in | (value << BITS);
            bits += BITS;
        } else if (pos < end) {
            bits += 8;
            value = (buf[pos++] & 0xFFL) | (value << 8);
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
            load();
        }
        int p = bits;
        long split = (r * prob) >>> 8;
        long v = (value >>> p) & 0xFFFFFFFFL;
        int bit;
        if (v > split) {
            r -= (int) split;
            value -= (split + 1) << p;
            bit = 1;
        } else {
            r = (int) split + 1;
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
            load();
        }
        int p = bits;
        long split = (range & 0xFFFFFFFFL) >>> 1;
        long val = (value >>> p) & 0xFFFFFFFFL;
        int mask = ((int) (split - val)) >> 31;
        bits -= 1;
        range += mask;
        range |= 1;
        value -= ((split + 1) & (mask & 0xFFFFFFFFL)) << p;
        return (v ^ mask) - mask;
    }
}
