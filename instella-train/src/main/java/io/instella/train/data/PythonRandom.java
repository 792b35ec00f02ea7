package io.instella.train.data;

import java.math.BigInteger;

/**
 * CPython's {@code random.Random} (Mersenne Twister MT19937) for the operations the data pipeline needs, bit for
 * bit: {@code seed(n)} for a non-negative integer n ({@code init_by_array} over n's 32-bit words, least significant
 * first), {@code getrandbits(k)} for k up to 32, {@code _randbelow} (rejection sampling on {@code getrandbits}) and
 * {@code shuffle} (Fisher-Yates from the end). So {@code random.seed(42); random.shuffle(x); x[:N]} — upstream's
 * {@code sampling_strategy: random:N} — picks the same records here. Not thread-safe.
 */
public final class PythonRandom {
    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final int[] mt = new int[N];
    private int mti;

    /** {@code random.Random(seed)} for a non-negative seed. */
    public PythonRandom(long seed) {
        this(BigInteger.valueOf(seed));
    }

    /** {@code random.Random(seed)} for an integer seed of any size (its absolute value is used, as CPython does). */
    public PythonRandom(BigInteger seed) {
        BigInteger n = seed.abs();
        int words = Math.max(1, (n.bitLength() + 31) / 32);
        int[] key = new int[words];
        for (int i = 0; i < words; i++) {
            key[i] = n.shiftRight(32 * i).intValue();
        }
        initByArray(key);
    }

    /**
     * The seed {@code seed + (a << 64) + (b << 96)}: a Python-reproducible stream per (seed, epoch, dataset)
     * ({@code random.Random(seed + (a << 64) + (b << 96))}).
     */
    public static PythonRandom forKey(long seed, long a, long b) {
        BigInteger s = new BigInteger(Long.toUnsignedString(seed))
                .add(BigInteger.valueOf(a).shiftLeft(64))
                .add(BigInteger.valueOf(b).shiftLeft(96));
        return new PythonRandom(s);
    }

    private void initGenrand(int s) {
        mt[0] = s;
        for (mti = 1; mti < N; mti++) {
            mt[mti] = 1812433253 * (mt[mti - 1] ^ (mt[mti - 1] >>> 30)) + mti;
        }
    }

    private void initByArray(int[] key) {
        initGenrand(19650218);
        int i = 1;
        int j = 0;
        for (int k = Math.max(N, key.length); k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1664525)) + key[j] + j;
            i++;
            j++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if (j >= key.length) j = 0;
        }
        for (int k = N - 1; k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1566083941)) - i;
            i++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x80000000;
        mti = N;
    }

    /** {@code genrand_uint32}: the next 32 random bits, as an unsigned value in a long. */
    long nextUint32() {
        int y;
        if (mti >= N) {
            int kk;
            for (kk = 0; kk < N - M; kk++) {
                y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
                mt[kk] = mt[kk + M] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
            }
            for (; kk < N - 1; kk++) {
                y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
                mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
            }
            y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
            mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
            mti = 0;
        }
        y = mt[mti++];
        y ^= (y >>> 11);
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= (y >>> 18);
        return y & 0xffffffffL;
    }

    /** {@code getrandbits(k)} for 0 <= k <= 32. */
    public long getrandbits(int k) {
        if (k < 0 || k > 32) throw new IllegalArgumentException("getrandbits supports 0..32 bits here, got " + k);
        if (k == 0) return 0;
        return nextUint32() >>> (32 - k);
    }

    /** {@code _randbelow(n)} for 0 < n < 2^32: getrandbits(n.bit_length()) until the value is below n. */
    public long randbelow(long n) {
        if (n <= 0 || n > 0xffffffffL) throw new IllegalArgumentException("randbelow needs 0 < n < 2^32, got " + n);
        int k = 64 - Long.numberOfLeadingZeros(n);
        long r = getrandbits(k);
        while (r >= n) r = getrandbits(k);
        return r;
    }

    /** {@code random.random()}: 53 random bits as a double in [0, 1). */
    public double random() {
        long a = nextUint32() >>> 5;
        long b = nextUint32() >>> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    /** {@code random.shuffle(x)} in place. */
    public void shuffle(long[] x) {
        for (int i = x.length - 1; i > 0; i--) {
            int j = (int) randbelow(i + 1L);
            long t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    }

    /** {@code random.shuffle(x)} in place. */
    public void shuffle(int[] x) {
        for (int i = x.length - 1; i > 0; i--) {
            int j = (int) randbelow(i + 1L);
            int t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    }
}
