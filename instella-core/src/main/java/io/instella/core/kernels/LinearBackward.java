package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Gradients of {@code y = x·Wᵀ + b} (the PyTorch nn.Linear layout, W [m, k]) through the blocked GEMM:
 * the input gradient {@code dx = dy·W} reads W's rows as they are stored (no transposed copy; BF16/F16 rows are
 * widened into the packed panels as the forward does), the weight gradient {@code dW += dyᵀ·x} reads x's rows and
 * accumulates straight into dW. Quantized weights (no row segments to widen) take a transposed F32 copy.
 */
public final class LinearBackward {
    private LinearBackward() {}

    /** dx[n, k] = dy[n, m]·W (or += with accumulate) with Wᵀ from {@link #transposed} (for a W used by many calls). */
    public static void inputGradTransposed(float[] dy, int n, Tensor wT, float[] dx, boolean accumulate) {
        if (!accumulate) {
            MatMul.linear(dy, 0, n, wT, null, dx, 0);
            return;
        }
        float[] tmp = new float[n * (int) wT.dim(0)];
        MatMul.linear(dy, 0, n, wT, null, tmp, 0);
        VectorMath.addInPlace(dx, tmp, tmp.length);
    }

    /** dx[n, k] = dy[n, m]·W (or += with accumulate). */
    public static void inputGrad(float[] dy, int n, Tensor w, float[] dx, boolean accumulate) {
        if (w.rank() != 2) throw new IllegalArgumentException(w + " is not a matrix");
        DType dt = w.dtype();
        if (dt != DType.F32 && dt != DType.BF16 && dt != DType.F16) {
            inputGradTransposed(dy, n, transposed(w), dx, accumulate);
            return;
        }
        int m = (int) w.dim(0), k = (int) w.dim(1);
        Gemm.rowMajorB(dy, 0, m, n, w.data(), dt, k, m, k, dx, 0, k, accumulate);
    }

    /**
     * dW[m, k] += dy[n, m]ᵀ·x[n, k] and, when dBias is not null, dBias[m] += Σ_rows dy. Either of dW / dBias may be null.
     */
    public static void weightGrad(float[] dy, float[] x, int n, int m, int k, float[] dW, float[] dBias) {
        if (dBias != null) {
            Parallel.forRange(m, 256, (j0, j1) -> {
                for (int r = 0; r < n; r++) {
                    int off = r * m;
                    for (int j = j0; j < j1; j++) dBias[j] += dy[off + j];
                }
            });
        }
        if (dW == null || n == 0) return;
        // dyᵀ rows are the GEMM's A rows (contiguous over the sequence); x's rows are B's row segments.
        float[] dyT = transpose(dy, n, m);
        Gemm.rowMajorB(dyT, 0, n, m, MemorySegment.ofArray(x), DType.F32, k, n, k, dW, 0, k, true);
    }

    /** a[rows, cols] → aᵀ[cols, rows]. */
    public static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[rows * cols];
        final int B = 32;
        Parallel.forRange((cols + B - 1) / B, 1, (b0, b1) -> {
            for (int cb = b0 * B; cb < Math.min(cols, b1 * B); cb += B) {
                for (int rb = 0; rb < rows; rb += B) {
                    for (int c = cb; c < Math.min(cols, cb + B); c++) {
                        for (int r = rb; r < Math.min(rows, rb + B); r++) t[c * rows + r] = a[r * cols + c];
                    }
                }
            }
        });
        return t;
    }

    /** Wᵀ as a [k, m] tensor of W's type (16-bit types are moved bit for bit; others widened to F32). */
    public static Tensor transposed(Tensor w) {
        int m = (int) w.dim(0), k = (int) w.dim(1);
        DType dt = w.dtype();
        if (dt == DType.BF16 || dt == DType.F16) {
            MemorySegment src = w.data();
            short[] t = new short[m * k];
            Parallel.forRange(m, 64, (j0, j1) -> {
                for (int j = j0; j < j1; j++) {
                    for (int c = 0; c < k; c++) t[c * m + j] = src.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, (long) j * k + c);
                }
            });
            return new Tensor(w.name() + ".T", dt, new long[]{k, m}, MemorySegment.ofArray(t));
        }
        float[] wf = new float[m * k];
        if (dt == DType.F32) {
            MemorySegment.copy(w.data(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, wf, 0, wf.length);
        } else {
            for (int j = 0; j < m; j++) w.copyRowsTo(j, 1, wf, j * k);
        }
        return new Tensor(w.name() + ".T", DType.F32, new long[]{k, m}, MemorySegment.ofArray(transpose(wf, m, k)));
    }
}
