package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
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
 * kernel ({@code instella_bf16_small}, 8 or 16 lanes on x86, 4 or 8 on aarch64: tiles of weight rows × 4 activation rows in registers) runs the
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
        int ldx = k + X_PAD;
        MemorySegment xs = split(x, xOff, n, k, ldx);
        MemorySegment seg = w.data();
        Parallel.forRange(m, ROW_GRAIN, (j0, j1) -> {
            if (useNative) NativeKernels.bf16Small(seg, k, m, j0, j1, xs, ldx, n, bias, out, outOff, scratch(n));
            else rows(seg, k, m, j0, j1, xs, ldx, n, bias, out, outOff);
        });
    }

    /**
     * Floats between split rows beyond k: rows of 2048 floats (8 KB) apart all map to the same L1 sets as each other
     * and as the weight rows (4 KB apart), and a tile's rows kept evicting each other.
     */
    private static final int X_PAD = 16;
    /**
     * The split rows live in native memory aligned to 64 bytes (a Java array's data is only 8- or 16-byte aligned):
     * with 64-byte rows (k a multiple of 16 and X_PAD = 16 floats) no vector load of x straddles two cache lines,
     * which cost the kernel ~8% at 32 rows on the Zen 5 (C driver, aligned vs 16 bytes off, interleaved runs).
     */
    private static final ThreadLocal<MemorySegment> X_SPLIT = ThreadLocal.withInitial(() -> MemorySegment.NULL);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    /** x rows split as {@link Gemv#splitEvenOdd} does (per 2L values: the L even ones, then the L odd ones), ldx apart. */
    static MemorySegment split(float[] x, int xOff, int n, int k, int ldx) {
        MemorySegment xs = X_SPLIT.get();
        long bytes = 4L * n * ldx;
        if (xs.byteSize() < bytes) {
            xs = Arena.ofAuto().allocate(bytes, 64);
            X_SPLIT.set(xs);
        }
        int chunk = 2 * L, bound = k - k % chunk;
        for (int i = 0; i < n; i++) {
            int src = xOff + i * k;
            long dst = (long) i * ldx;
            for (int c = 0; c < bound; c += chunk) {
                for (int e = 0; e < L; e++) {
                    xs.setAtIndex(F32, dst + c + e, x[src + c + 2 * e]);
                    xs.setAtIndex(F32, dst + c + L + e, x[src + c + 2 * e + 1]);
                }
            }
            MemorySegment.copy(x, src + bound, xs, F32, 4 * (dst + bound), k - bound);
        }
        return xs;
    }

    /** The native kernel's partial sums: 16 weight rows × n activation rows × L lanes. */
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    private static float[] scratch(int n) {
        float[] s = SCRATCH.get();
        if (s.length < 16 * n * L) {
            s = new float[16 * n * L];
            SCRATCH.set(s);
        }
        return s;
    }

    /** The Java loops: rows [j0, j1) of W against the n split rows of xs. */
    static void rows(MemorySegment seg, int k, int m, int j0, int j1, MemorySegment xs, int ldx, int n, float[] bias, float[] out,
                     int outOff) {
        int chunk = 2 * L, bound = k - k % chunk;
        long rowBytes = 2L * k;
        for (int j = j0; j < j1; j++) {
            long r0 = j * rowBytes;
            for (int i = 0; i < n; i++) {
                long x0 = 4L * i * ldx;
                FloatVector acc = FloatVector.zero(F);
                for (int c = 0; c < bound; c += chunk) {
                    IntVector wv = IntVector.fromMemorySegment(I, seg, r0 + 2L * c, ByteOrder.LITTLE_ENDIAN);
                    acc = wv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()
                            .fma(FloatVector.fromMemorySegment(F, xs, x0 + 4L * c, ByteOrder.LITTLE_ENDIAN), acc);
                    acc = wv.and(0xFFFF0000).reinterpretAsFloats()
                            .fma(FloatVector.fromMemorySegment(F, xs, x0 + 4L * (c + L), ByteOrder.LITTLE_ENDIAN), acc);
                }
                float s = VectorMath.sumLanes(acc);
                for (int t = bound; t < k; t++) {
                    s = Math.fma(xs.get(F32, x0 + 4L * t), Float.intBitsToFloat((seg.get(I16, r0 + 2L * t) & 0xFFFF) << 16), s);
                }
                out[outOff + i * m + j] = s + (bias == null ? 0f : bias[j]);
            }
        }
    }
}
