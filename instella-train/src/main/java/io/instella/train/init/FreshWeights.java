package io.instella.train.init;

import java.util.SplittableRandom;

/**
 * The values upstream gives the parts it creates rather than loads (spec §7.1): the projector's Linear layers get
 * PyTorch's default {@code nn.Linear} initialisation, and {@code image_newline} is {@code randn(H) · H^-0.5}.
 *
 * <p>The laws are PyTorch's, the random numbers are ours: a {@link SplittableRandom} from the seed, so the same seed
 * gives the same values on every machine and JDK, but not the values {@code torch.manual_seed} would give.
 */
public final class FreshWeights {
    private FreshWeights() {}

    /**
     * The bound b of PyTorch's default Linear init: {@code kaiming_uniform_(a=√5)} on the weight gives
     * gain √(2/(1+5)) = √(1/3), std = gain/√fan_in and bound √3·std = 1/√fan_in; the bias is U(−1/√fan_in, 1/√fan_in).
     */
    public static double linearBound(int fanIn) {
        return 1.0 / Math.sqrt(fanIn);
    }

    /** A Linear(in → out) weight, [out, in] row-major, each value U(−1/√in, 1/√in). */
    public static float[] linearWeight(SplittableRandom rng, int out, int in) {
        return uniform(rng, Math.multiplyExact(out, in), linearBound(in));
    }

    /** A Linear(in → out) bias, [out], each value U(−1/√in, 1/√in). */
    public static float[] linearBias(SplittableRandom rng, int out, int in) {
        return uniform(rng, out, linearBound(in));
    }

    /** {@code image_newline}: H values N(0, 1) scaled by H^-0.5. */
    public static float[] imageNewline(SplittableRandom rng, int hidden) {
        float[] v = gaussian(rng, hidden);
        double scale = 1.0 / Math.sqrt(hidden);
        for (int i = 0; i < v.length; i++) v[i] = (float) (v[i] * scale);
        return v;
    }

    static float[] uniform(SplittableRandom rng, int n, double bound) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((2.0 * rng.nextDouble() - 1.0) * bound);
        return v;
    }

    /**
     * Standard normal values by the Box–Muller transform, written out (rather than {@code nextGaussian}) so that the
     * values depend only on the generator's documented output, not on a JDK's choice of Gaussian sampler.
     */
    static float[] gaussian(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i += 2) {
            double u1 = 1.0 - rng.nextDouble(); // (0, 1]: log stays finite
            double u2 = rng.nextDouble();
            double r = Math.sqrt(-2.0 * Math.log(u1));
            v[i] = (float) (r * Math.cos(2 * Math.PI * u2));
            if (i + 1 < n) v[i + 1] = (float) (r * Math.sin(2 * Math.PI * u2));
        }
        return v;
    }
}
