package io.instella.train.optim;

import io.instella.core.kernels.Parallel;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;

/**
 * Global-norm gradient clipping as torch 1.13 {@code torch.nn.utils.clip_grad_norm_(params, max_norm)} (norm
 * type 2): the L2 norm of each gradient as a float32 value, the L2 norm of those norms, {@code clip_coef =
 * max_norm / (total + 1e-6)} in float32, clamped to at most 1, and every gradient multiplied by it. Torch
 * multiplies even when the coefficient is clamped to 1 (an exact no-op, skipped here). A non-finite total gives
 * a NaN (or 0) coefficient and so non-finite gradients, as in torch: check the returned norm before stepping
 * if a run should survive an overflow.
 * <p>
 * The sums of squares are taken in double over fixed chunks and added in chunk order, so the result does not
 * depend on the number of threads (torch sums in float32 vector lanes; the two agree to float32 rounding).
 */
public final class GradientClipping {
    /** Elements per partial sum: fixed, so the summation order is independent of the thread count. */
    private static final int CHUNK = 1 << 15;

    private GradientClipping() {}

    /**
     * Clips the gradients of {@code parameters} (those that have one) to a global L2 norm of {@code maxNorm}.
     *
     * @return the total norm before clipping (a float32 value; 0 when no parameter has a gradient)
     */
    public static double clipGlobalNorm(ParameterSet parameters, double maxNorm) {
        float total = globalNorm(parameters);
        float coef = (float) maxNorm / (total + 1e-6f);
        if (coef > 1.0f) coef = 1.0f; // torch.clamp(max=1.0); a NaN stays NaN
        if (coef != 1.0f) {
            float c = coef;
            for (Parameter p : parameters) {
                float[] g = p.grad();
                if (g == null) continue;
                Parallel.forRange(g.length, CHUNK, (start, end) -> {
                    for (int i = start; i < end; i++) g[i] *= c;
                });
            }
        }
        return total;
    }

    /** The global L2 norm of the gradients (norm of the per-tensor float32 norms), without changing them. */
    public static float globalNorm(ParameterSet parameters) {
        double sumOfSquaredNorms = 0;
        for (Parameter p : parameters) {
            float[] g = p.grad();
            if (g == null) continue;
            float norm = l2Norm(g);
            sumOfSquaredNorms += (double) norm * norm;
        }
        return (float) Math.sqrt(sumOfSquaredNorms);
    }

    /** The L2 norm of one gradient, rounded to float32 as torch's per-tensor norm. */
    public static float l2Norm(float[] g) {
        int chunks = (g.length + CHUNK - 1) / CHUNK;
        double[] partial = new double[chunks];
        Parallel.forRange(chunks, 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                int start = c * CHUNK, end = Math.min(g.length, start + CHUNK);
                double s = 0;
                for (int i = start; i < end; i++) s += (double) g[i] * g[i];
                partial[c] = s;
            }
        });
        double sum = 0;
        for (double s : partial) sum += s;
        return (float) Math.sqrt(sum);
    }
}
