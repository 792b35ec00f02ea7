package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * {@code out = x · Wᵀ (+ bias)} for a weight matrix W of shape [m, k] stored as F32, BF16, F16, Q8_0 or
 * Q4_0 in (mapped) memory, the PyTorch {@code nn.Linear} layout. Weights stay in their stored type.
 * A few rows of x (decode) take the streaming matrix-vector path ({@link Gemv}), which reads each
 * weight byte once and widens it in registers; more rows (prefill, vision tower) take, where the native kernels
 * load: for Q8_0/Q4_0 weights the int8 GEMM ({@link Int8Gemm}, weights read in place, activations quantized per
 * block as for decode), for BF16 weights and up to {@link #SMALL_MAX_ROWS} rows the small-prompt kernel
 * ({@link SmallGemm}, weights read in place); otherwise the blocked, packed-panel GEMM ({@link Gemm}).
 * {@code -Dinstella.prefill=packed} (or {@code INSTELLA_PREFILL=packed}) keeps every product of more than
 * {@link #GEMV_MAX_ROWS} rows on the packed GEMM, as before these kernels.
 */
public final class MatMul {
    /** Up to this many rows of x, the weights are streamed once per row (memory-bound regime). */
    public static final int GEMV_MAX_ROWS = 4;
    /**
     * Up to this many rows, BF16 weights are read in place by {@link SmallGemm} rather than packed per call: the
     * crossover measured on the 2-vCPU Zen 5 (one core, CPU time, OLMo-1B shapes 2048×2048, 8192×2048, 2048×8192):
     * in place 1.5–2.0× the packed GEMM's speed at 8 rows, 1.0–1.3× at 16, 0.8–0.9× at 32 (see the module README).
     * {@code -Dinstella.smallRows=N} moves the crossover (for measuring it on another CPU).
     */
    public static final int SMALL_MAX_ROWS = Integer.getInteger("instella.smallRows", 16);
    /** False with {@code -Dinstella.prefill=packed}: prefill and the vision tower on the packed float GEMM only. */
    static final boolean IN_PLACE_PREFILL = !"packed".equalsIgnoreCase(
            System.getProperty("instella.prefill", System.getenv().getOrDefault("INSTELLA_PREFILL", "auto")).trim());

    private MatMul() {}

    /**
     * out[i*m + j] = sum_t x[xOff + i*k + t] * W[j, t] + bias[j] for i < n, j < m.
     * @param bias may be null
     */
    public static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        if (w.rank() != 2) throw new IllegalArgumentException(w + " is not a matrix");
        DType dt = w.dtype();
        if (!supported(dt)) {
            throw new IllegalArgumentException(w.name() + ": unsupported weight type " + dt);
        }
        if (n <= 0) return;
        if (dt == DType.BF16 && n > GEMV_MAX_ROWS && Bf16Dot.enabled()) { // opt-in: prefill/vision GEMM on BF16-rounded activations
            Bf16Dot.linear(x, xOff, n, w, bias, out, outOff);
            return;
        }
        if (n <= GEMV_MAX_ROWS) Gemv.linear(x, xOff, n, w, bias, out, outOff);
        else if (IN_PLACE_PREFILL && Int8Gemm.supports(dt) && NativeKernels.int8GemmAvailable()) Int8Gemm.linear(x, xOff, n, w, bias, out, outOff);
        else if (IN_PLACE_PREFILL && dt == DType.BF16 && n <= SMALL_MAX_ROWS && NativeKernels.smallGemmSupported()) {
            SmallGemm.linear(x, xOff, n, w, bias, out, outOff);
        } else Gemm.linear(x, xOff, n, w, bias, out, outOff);
    }

    /**
     * outs[i] = x · ws[i]ᵀ (+ biases[i]) for several matrices read by the same rows of x (q/k/v, gate/up). For a
     * few rows of x and matrices of one type and width this is one parallel pass over all their rows with x
     * prepared once (decode meets the threads once instead of per matrix); otherwise one {@link #linear} each.
     * @param biases null, or one entry per matrix (entries may be null)
     */
    public static void linear(float[] x, int xOff, int n, Tensor[] ws, float[][] biases, float[][] outs) {
        if (outs.length != ws.length || biases != null && biases.length != ws.length) {
            throw new IllegalArgumentException(ws.length + " matrices need as many outputs and biases");
        }
        boolean fusable = n > 0 && n <= GEMV_MAX_ROWS;
        for (Tensor w : ws) {
            fusable &= w.rank() == 2 && w.dtype() == ws[0].dtype() && w.dim(1) == ws[0].dim(1) && supported(w.dtype());
        }
        float[][] b = biases != null ? biases : new float[ws.length][];
        if (!fusable || ws.length == 1) {
            for (int i = 0; i < ws.length; i++) linear(x, xOff, n, ws[i], b[i], outs[i], 0);
            return;
        }
        Gemv.linear(x, xOff, n, ws, b, outs, new int[ws.length]);
    }

    private static boolean supported(DType dt) {
        return (dt.isFloatingPoint() || dt.isQuantized()) && dt != DType.F64;
    }

    public static void linear(float[] x, int n, Tensor w, float[] bias, float[] out) {
        linear(x, 0, n, w, bias, out, 0);
    }

    /** bf16 → f32 widening of n values at byteOff (a 16-bit left shift of each bit pattern). */
    public static void widenBf16(MemorySegment seg, long byteOff, float[] dst, int dstOff, int n) {
        Packing.widenBf16(seg, byteOff, dst, dstOff, n);
    }
}
