package io.instella.model.lm;

import io.instella.core.kernels.LinearBackward;
import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.VectorMath;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * A LoRA adapter on one frozen linear layer, as PEFT computes it in training:
 * {@code y = x·Wᵀ + scale · dropout(x)·Aᵀ·Bᵀ} with A [r, in], B [out, r], scale = alpha / r. Its forward and
 * backward sit here, beside each other; the arrays are the trainer's float32 master values (updated in place),
 * and the gradients go to the arrays {@code gradients} returns for {@code aName} / {@code bName}.
 * Dropout masks come from a seed (per step and layer), so the backward regenerates exactly the forward's mask.
 */
public record LowRankAdapter(String aName, String bName, int rank, int in, int out, float scale, float dropout,
                             float[] a, float[] b) {

    private Tensor tensorA() { return new Tensor(aName, DType.F32, new long[]{rank, in}, MemorySegment.ofArray(a)); }

    private Tensor tensorB() { return new Tensor(bName, DType.F32, new long[]{out, rank}, MemorySegment.ofArray(b)); }

    /** dropout(x) for n rows: x itself without dropout, else a copy with a seeded Bernoulli mask scaled by 1/(1−p). */
    private float[] dropped(float[] x, int n, long seed) {
        if (dropout <= 0) return x;
        float[] d = new float[n * in];
        SplittableRandom rng = new SplittableRandom(seed);
        float keep = 1f / (1f - dropout);
        for (int i = 0; i < n * in; i++) d[i] = rng.nextDouble() < dropout ? 0f : x[i] * keep;
        return d;
    }

    /** y += scale · dropout(x)·Aᵀ·Bᵀ for n rows of x [n, in] into y [n, out]. */
    public void forward(float[] x, int n, float[] y, long seed) {
        float[] t = new float[n * rank];
        MatMul.linear(dropped(x, n, seed), 0, n, tensorA(), null, t, 0);
        float[] u = new float[n * out];
        MatMul.linear(t, 0, n, tensorB(), null, u, 0);
        VectorMath.axpy(scale, u, 0, y, 0, n * out);
    }

    /** Adds this adapter's part of dx (for dy [n, out]) and accumulates dA, dB. */
    public void backward(float[] x, float[] dy, int n, float[] dx, long seed, Function<String, float[]> gradients) {
        float[] xd = dropped(x, n, seed);
        float[] t = new float[n * rank];
        MatMul.linear(xd, 0, n, tensorA(), null, t, 0);
        float[] dys = new float[n * out];
        VectorMath.axpy(scale, dy, 0, dys, 0, n * out);
        float[] dB = gradients.apply(bName);
        if (dB != null) LinearBackward.weightGrad(dys, t, n, out, rank, dB, null);
        float[] dt = new float[n * rank];
        LinearBackward.inputGrad(dys, n, tensorB(), dt, false);
        float[] dA = gradients.apply(aName);
        if (dA != null) LinearBackward.weightGrad(dt, xd, n, rank, in, dA, null);
        float[] dxd = new float[n * in];
        LinearBackward.inputGrad(dt, n, tensorA(), dxd, false);
        if (dropout > 0) {
            // d dropout(x) / dx = mask / (1 − p): where xd kept x (scaled), pass the gradient scaled; else nothing.
            float keep = 1f / (1f - dropout);
            SplittableRandom rng = new SplittableRandom(seed);
            for (int i = 0; i < n * in; i++) if (rng.nextDouble() < dropout) dxd[i] = 0f; else dxd[i] *= keep;
        }
        VectorMath.addInPlace(dx, dxd, n * in);
    }
}
