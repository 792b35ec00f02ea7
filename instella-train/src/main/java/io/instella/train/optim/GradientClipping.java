package io.instella.train.optim;

import io.instella.core.kernels.Parallel;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.ArrayList;
import java.util.List;

/**
 * Global-norm gradient clipping as torch 1.13 {@code torch.nn.utils.clip_grad_norm_(params, max_norm)} (norm
 * type 2), to the bit on the x86 CPU build the goldens came from:
 * <ol>
 *   <li>each gradient's L2 norm in float32 the way ATen's vectorised {@code norm} kernel (AVX2) sums it: 8 lane
 *       accumulators {@code acc = fma(x, x, acc)} over the whole tensor, the lanes added left to right, the last
 *       {@code n mod 8} elements fused into that sum, then the square root;</li>
 *   <li>the total = the same norm of the vector of per-tensor norms ({@code torch.norm(torch.stack(norms))});</li>
 *   <li>{@code clip_coef = max_norm / (total + 1e-6)} as torch evaluates a float divided by a tensor,
 *       {@code reciprocal(total + 1e-6f) * (float) max_norm}, clamped to at most 1;</li>
 *   <li>every gradient multiplied by it (torch multiplies even by 1, an exact no-op skipped here).</li>
 * </ol>
 * A non-finite total gives a NaN (or 0) coefficient and so non-finite gradients, as in torch: check the returned
 * norm before stepping if a run should survive an overflow. Each tensor's sum runs on one thread (tensors in
 * parallel), so the result does not depend on the number of threads.
 */
public final class GradientClipping {
    /** ATen's AVX2 float vector: the lane count fixes the summation order. */
    private static final VectorSpecies<Float> LANES = FloatVector.SPECIES_256;
    private static final int GRAIN = 1 << 15;

    private GradientClipping() {}

    /**
     * Clips the gradients of {@code parameters} (those that have one) to a global L2 norm of {@code maxNorm}.
     *
     * @return the total norm before clipping (a float32 value; 0 when no parameter has a gradient)
     */
    public static double clipGlobalNorm(ParameterSet parameters, double maxNorm) {
        List<float[]> grads = gradients(parameters);
        if (grads.isEmpty()) return 0;
        float total = globalNorm(grads);
        float coef = (1.0f / (total + 1e-6f)) * (float) maxNorm;
        if (coef > 1.0f) coef = 1.0f; // torch.clamp(max=1.0); a NaN stays NaN
        if (coef != 1.0f) {
            float c = coef;
            for (float[] g : grads) {
                Parallel.forRange(g.length, GRAIN, (start, end) -> {
                    for (int i = start; i < end; i++) g[i] *= c;
                });
            }
        }
        return total;
    }

    /** The global L2 norm of the gradients (norm of the per-tensor norms), without changing them. */
    public static float globalNorm(ParameterSet parameters) {
        List<float[]> grads = gradients(parameters);
        return grads.isEmpty() ? 0f : globalNorm(grads);
    }

    private static float globalNorm(List<float[]> grads) {
        float[] norms = new float[grads.size()];
        Parallel.forRange(norms.length, 1, (start, end) -> {
            for (int i = start; i < end; i++) norms[i] = l2Norm(grads.get(i));
        });
        return l2Norm(norms);
    }

    private static List<float[]> gradients(ParameterSet parameters) {
        List<float[]> grads = new ArrayList<>();
        for (Parameter p : parameters) if (p.grad() != null) grads.add(p.grad());
        return grads;
    }

    /** The L2 norm of a float32 vector, summed as ATen's vectorised CPU norm kernel does (see the class comment). */
    public static float l2Norm(float[] x) {
        int lanes = LANES.length();
        int whole = x.length - x.length % lanes;
        FloatVector acc = FloatVector.zero(LANES);
        for (int i = 0; i < whole; i += lanes) {
            FloatVector v = FloatVector.fromArray(LANES, x, i);
            acc = v.fma(v, acc);
        }
        float[] lane = new float[lanes];
        acc.intoArray(lane, 0);
        float sum = lane[0];
        for (int j = 1; j < lanes; j++) sum += lane[j];
        for (int i = whole; i < x.length; i++) sum = Math.fma(x[i], x[i], sum);
        return (float) Math.sqrt(sum);
    }
}
