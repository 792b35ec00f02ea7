package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Small prompts (a few to {@link MatMul#SMALL_MAX_ROWS} rows) against BF16 weights read in place: no packed panels,
 * whose per-call cost (every weight widened and stored as float) is paid again for each prompt whatever its length.
 * Each weight vector is loaded and widened once (as in {@link Gemv}: a 32-bit load holds an even and an odd bf16
 * value) and multiplied with several activation rows, x split even/odd once per call.
 * <p>
 * Per output: L partial sums (L = the Java kernels' float vector length), per 2L values
 * {@code acc = fma(even, x_even, acc)} then {@code fma(odd, x_odd, acc)}; the lanes added in order
 * ({@link VectorMath#sumLanes}); the tail past the last 2L values added in order with fma; then the bias. The native
 * kernel ({@code instella_bf16_small}, 8 or 16 lanes: tiles of weight rows × 4 activation rows in registers) runs the
 * same chains, so it is bit-identical to {@link #rows} at the same width.
 */
final class SmallGemm {
    private static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Weight rows per parallel chunk. */
    private static final int ROW_GRAIN = 16;

    private SmallGemm() {}

    static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        linear(x, xOff, n, w, bias, out, outOff, NativeKernels.smallGemmSupported());
    }

    static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff, boolean useNative) {
        if (w.dtype() != DType.BF16) throw new IllegalArgumentException(w.name() + ": the small-prompt kernel reads BF16 weights, not " + w.dtype());
        int m = (int) w.dim(0), k = (int) w.dim(1);
        if (n <= 0) return;
        if (outOff < 0 || (long) outOff + (long) n * m > out.length) {
            throw new IndexOutOfBoundsException("output of " + n + " × " + m + " at " + outOff + " does not fit " + out.length);
        }
        if (bias != null && bias.length < m) throw new IllegalArgumentException("bias of " + bias.length + " for " + m + " rows");
        if (xOff < 0 || (long) xOff + (long) n * k > x.length) throw new IndexOutOfBoundsException("input of " + n + " × " + k);
        float[] xs = Gemv.splitEvenOdd(x, xOff, n, k, L);
        MemorySegment seg = w.data();
        Parallel.forRange(m, ROW_GRAIN, (j0, j1) -> {
            if (useNative) NativeKernels.bf16Small(seg, k, m, j0, j1, xs, n, bias, out, outOff);
            else rows(seg, k, m, j0, j1, xs, n, bias, out, outOff);
        });
    }

    /** The Java loops: rows [j0, j1) of W against the n split rows of xs. */
    static void rows(MemorySegment seg, int k, int m, int j0, int j1, float[] xs, int n, float[] bias, float[] out, int outOff) {
        int chunk = 2 * L, bound = k - k % chunk;
        long rowBytes = 2L * k;
        for (int j = j0; j < j1; j++) {
            long r0 = j * rowBytes;
            for (int i = 0; i < n; i++) {
                int x0 = i * k;
                FloatVector acc = FloatVector.zero(F);
                for (int c = 0; c < bound; c += chunk) {
                    IntVector wv = IntVector.fromMemorySegment(I, seg, r0 + 2L * c, ByteOrder.LITTLE_ENDIAN);
                    acc = wv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, x0 + c), acc);
                    acc = wv.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, x0 + c + L), acc);
                }
                float s = VectorMath.sumLanes(acc);
                for (int t = bound; t < k; t++) {
                    s = Math.fma(xs[x0 + t], Float.intBitsToFloat((seg.get(I16, r0 + 2L * t) & 0xFFFF) << 16), s);
                }
                out[outOff + i * m + j] = s + (bias == null ? 0f : bias[j]);
            }
        }
    }
}
