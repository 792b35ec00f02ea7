package io.instella.train.data;

import io.instella.eval.py.PyRandom;

import java.math.BigInteger;

/**
 * CPython's {@code random.Random} (Mersenne Twister MT19937) for the operations the data pipeline needs, bit for
 * bit: {@code seed(n)} for a non-negative integer n ({@code init_by_array} over n's 32-bit words, least significant
 * first), {@code getrandbits(k)} for k up to 32, {@code _randbelow} (rejection sampling on {@code getrandbits}) and
 * {@code shuffle} (Fisher-Yates from the end). So {@code random.seed(42); random.shuffle(x); x[:N]} — upstream's
 * {@code sampling_strategy: random:N} — picks the same records here. Not thread-safe.
 */
public final class PythonRandom {
    /** CPython's Mersenne Twister and its seeding, shared with the eval module (lmms-eval's sampling). */
    private final PyRandom core = new PyRandom(0);

    /** {@code random.Random(seed)} for a non-negative seed. */
    public PythonRandom(long seed) {
        this(BigInteger.valueOf(seed));
    }

    /** {@code random.Random(seed)} for an integer seed of any size (its absolute value is used, as CPython does). */
    public PythonRandom(BigInteger seed) {
        core.seed(seed);
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

    /** {@code getrandbits(k)} for 0 <= k <= 32. */
    public long getrandbits(int k) {
        if (k < 0 || k > 32) throw new IllegalArgumentException("getrandbits supports 0..32 bits here, got " + k);
        if (k == 0) return 0;
        return core.genrandUint32() >>> (32 - k);
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
        return core.random();
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
