package io.instella.train.init;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** The init laws on large samples: PyTorch's default Linear init and randn · H^-0.5. */
class FreshWeightsTest {

    @Test
    void linearWeightIsUniformWithinOneOverSqrtFanIn() {
        int out = 512, in = 1024;
        float[] w = FreshWeights.linearWeight(new SplittableRandom(42), out, in);
        assertThat(w).hasSize(out * in);
        double b = 1 / Math.sqrt(in), mean = 0, sq = 0, min = 0, max = 0;
        for (float x : w) {
            mean += x;
            sq += (double) x * x;
            min = Math.min(min, x);
            max = Math.max(max, x);
        }
        mean /= w.length;
        double var = sq / w.length - mean * mean;
        assertThat(max).isLessThanOrEqualTo(b).isGreaterThan(0.999 * b);
        assertThat(min).isGreaterThanOrEqualTo(-b).isLessThan(-0.999 * b);
        assertThat(Math.abs(mean)).isLessThan(5 * b / Math.sqrt(3.0 * w.length));
        assertThat(var / (b * b / 3)).isBetween(0.99, 1.01);
        // Uniform, not bell-shaped: each quarter of the range holds a quarter of the values.
        int[] quarters = new int[4];
        for (float x : w) quarters[Math.min(3, (int) ((x + b) / (2 * b) * 4))]++;
        for (int q : quarters) assertThat(q / (double) w.length).isBetween(0.245, 0.255);
    }

    @Test
    void biasUsesTheSameBoundAsItsWeight() {
        float[] bias = FreshWeights.linearBias(new SplittableRandom(1), 100_000, 64);
        double b = 1 / Math.sqrt(64), max = 0;
        for (float x : bias) max = Math.max(max, Math.abs(x));
        assertThat(max).isLessThanOrEqualTo(b).isGreaterThan(0.99 * b);
    }

    @Test
    void imageNewlineIsGaussianWithStdOneOverSqrtH() {
        int h = 1 << 18; // a large H so the moments are tight
        float[] v = FreshWeights.imageNewline(new SplittableRandom(9), h);
        double mean = 0, sq = 0, fourth = 0;
        for (float x : v) mean += x;
        mean /= h;
        for (float x : v) {
            double d = x - mean;
            sq += d * d;
            fourth += d * d * d * d;
        }
        double var = sq / h, expected = 1.0 / h;
        assertThat(var / expected).isBetween(0.99, 1.01);
        assertThat(Math.abs(mean)).isLessThan(5 / Math.sqrt(h) / Math.sqrt(h));
        assertThat(fourth / h / (var * var)).as("kurtosis of a Gaussian").isBetween(2.95, 3.05);
        // Odd H fills the last entry too.
        float[] odd = FreshWeights.imageNewline(new SplittableRandom(9), 7);
        assertThat(odd[6]).isNotZero();
    }

    @Test
    void sameSeedSameValuesOtherSeedOtherValues() {
        assertThat(FreshWeights.linearWeight(new SplittableRandom(5), 16, 8)).isEqualTo(FreshWeights.linearWeight(new SplittableRandom(5), 16, 8));
        assertThat(FreshWeights.linearWeight(new SplittableRandom(5), 16, 8)).isNotEqualTo(FreshWeights.linearWeight(new SplittableRandom(6), 16, 8));
        assertThat(FreshWeights.imageNewline(new SplittableRandom(5), 16)).isEqualTo(FreshWeights.imageNewline(new SplittableRandom(5), 16));
    }
}
