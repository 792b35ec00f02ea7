package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;

import org.junit.jupiter.api.Test;

/**
 * Expected values printed by CPython 3.11.2 ({@code /usr/bin/python3} on the development machine), e.g.
 * {@code r = random.Random(42); [r.getrandbits(32) for _ in range(3)], r.random()} and
 * {@code random.seed(42); x = list(range(10)); random.shuffle(x)}.
 */
class PythonRandomTest {

    @Test
    void getrandbitsAndRandomMatchCPython() {
        PythonRandom r = new PythonRandom(42);
        assertThat(r.getrandbits(32)).isEqualTo(2746317213L);
        assertThat(r.getrandbits(32)).isEqualTo(478163327L);
        assertThat(r.getrandbits(32)).isEqualTo(107420369L);
        assertThat(r.random()).isEqualTo(0.7415504997598329);
        assertThat(new PythonRandom(BigInteger.valueOf(2).pow(40).add(BigInteger.valueOf(5))).getrandbits(32))
                .isEqualTo(2166296868L);
    }

    @Test
    void shuffleMatchesCPython() {
        int[] x = range(10);
        new PythonRandom(42).shuffle(x);
        assertThat(x).containsExactly(7, 3, 2, 8, 5, 6, 9, 4, 0, 1);

        // One seeded stream shared by consecutive shuffles (upstream's random:N over several datasets).
        PythonRandom r = new PythonRandom(42);
        int[] big = range(1000);
        r.shuffle(big);
        assertThat(java.util.Arrays.copyOf(big, 10)).containsExactly(776, 507, 895, 922, 33, 483, 85, 750, 354, 523);
        int[] small = range(7);
        r.shuffle(small);
        assertThat(small).containsExactly(2, 0, 1, 5, 4, 6, 3);

        int[] zero = range(20);
        new PythonRandom(0).shuffle(zero);
        assertThat(zero).containsExactly(10, 18, 16, 14, 0, 17, 11, 2, 3, 9, 5, 7, 4, 19, 6, 15, 8, 1, 13, 12);
    }

    @Test
    void keyedStreamsAreRandomRandomOfTheCombinedSeed() {
        // random.Random(42 + (3 << 64) + (2 << 96)).shuffle(list(range(20)))
        long[] x = new long[20];
        for (int i = 0; i < 20; i++) x[i] = i;
        PythonRandom.forKey(42, 3, 2).shuffle(x);
        assertThat(x).containsExactly(10, 11, 7, 6, 3, 2, 13, 4, 15, 12, 0, 14, 18, 1, 5, 19, 17, 9, 16, 8);
    }

    static int[] range(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }
}
