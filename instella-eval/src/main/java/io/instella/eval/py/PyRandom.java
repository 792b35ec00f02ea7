package io.instella.eval.py;

import java.math.BigInteger;
import java.util.List;

/**
 * CPython's {@code random.Random} (MT19937) bit for bit: {@code seed(int)}, {@code random()},
 * {@code getrandbits(k)}, {@code randint(a, b)} and {@code choice(seq)}. lmms-eval's MMBench fallback re-seeds
 * with 2680 and draws {@code randint(0, 4)}; MMMU's parser calls {@code random.choice}.
 */
public final class PyRandom {
    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final int[] mt = new int[N];
    private int mti = N + 1;

    /** A generator seeded like {@code random.seed(seed)} for an int seed. */
    public PyRandom(long seed) {
        seed(BigInteger.valueOf(seed));
    }

    /** {@code random.seed(n)} for an int {@code n}: the absolute value's 32-bit words, least significant first. */
    public void seed(BigInteger n) {
        BigInteger a = n.abs();
        int words = Math.max(1, (a.bitLength() + 31) / 32);
        int[] key = new int[words];
        for (int i = 0; i < words; i++) {
            key[i] = a.shiftRight(32 * i).intValue();
        }
        initByArray(key);
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
        int k = Math.max(N, key.length);
        for (; k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1664525)) + key[j] + j;
            i++;
            j++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if (j >= key.length) j = 0;
        }
        for (k = N - 1; k > 0; k--) {
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

    /** The next 32-bit output as an unsigned value. */
    public long genrandUint32() {
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

    /** {@code random.random()}: 53 random bits in [0, 1). */
    public double random() {
        long a = genrandUint32() >>> 5;
        long b = genrandUint32() >>> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    /** {@code getrandbits(k)} for 1 <= k <= 32. */
    public long getrandbits(int k) {
        if (k < 1 || k > 32) throw new IllegalArgumentException("getrandbits supports 1..32 bits here, got " + k);
        return genrandUint32() >>> (32 - k);
    }

    /** {@code _randbelow(n)} (rejection sampling on n.bit_length() bits). */
    public int randbelow(int n) {
        if (n <= 0) throw new IllegalArgumentException("randbelow needs n > 0, got " + n);
        int k = 32 - Integer.numberOfLeadingZeros(n);
        long r = getrandbits(k);
        while (r >= n) r = getrandbits(k);
        return (int) r;
    }

    /** {@code randint(a, b)}: a + randbelow(b - a + 1). */
    public int randint(int a, int b) {
        return a + randbelow(b - a + 1);
    }

    /** {@code choice(seq)}. */
    public <T> T choice(List<T> seq) {
        if (seq.isEmpty()) throw new IllegalArgumentException("Cannot choose from an empty sequence");
        return seq.get(randbelow(seq.size()));
    }
}
