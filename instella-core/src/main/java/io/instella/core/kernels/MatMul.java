package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * {@code out = x · Wᵀ (+ bias)} for a weight matrix W of shape [m, k] stored as F32, BF16 or F16 in
 * (mapped) memory, the PyTorch {@code nn.Linear} layout. Weights stay in their stored type; a block of
 * rows is widened to float into a per-thread scratch buffer and reused across all rows of x.
 */
public final class MatMul {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    @SuppressWarnings("unchecked")
    private static final VectorSpecies<Short> S_HALF =
            (VectorSpecies<Short>) VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Widened weight block budget, in floats (fits a core's L2). */
    private static final int BLOCK_FLOATS = 64 * 1024;

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[BLOCK_FLOATS]);

    private MatMul() {}

    /**
     * out[i*m + j] = sum_t x[xOff + i*k + t] * W[j, t] + bias[j] for i < n, j < m.
     * @param bias may be null
     */
    public static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        if (w.rank() != 2) throw new IllegalArgumentException(w + " is not a matrix");
        int m = (int) w.dim(0), k = (int) w.dim(1);
        DType dt = w.dtype();
        if (dt != DType.F32 && dt != DType.BF16 && dt != DType.F16) {
            throw new IllegalArgumentException(w.name() + ": unsupported weight type " + dt);
        }
        int rowsPerBlock = Math.max(1, Math.min(64, BLOCK_FLOATS / Math.max(1, k)));
        if (rowsPerBlock >= 4) rowsPerBlock &= ~3;
        final int rb = rowsPerBlock;
        int blocks = (m + rb - 1) / rb;
        MemorySegment seg = w.data();
        Parallel.forRange(blocks, 1, (b0, b1) -> {
            float[] scratch = k * rb <= BLOCK_FLOATS ? SCRATCH.get() : new float[k * rb];
            for (int b = b0; b < b1; b++) {
                int j0 = b * rb, j1 = Math.min(m, j0 + rb);
                widenRows(seg, dt, j0, j1 - j0, k, scratch);
                multiplyBlock(x, xOff, n, k, scratch, j0, j1, m, bias, out, outOff);
            }
        });
    }

    public static void linear(float[] x, int n, Tensor w, float[] bias, float[] out) {
        linear(x, 0, n, w, bias, out, 0);
    }

    /** Widens rows [row0, row0+rows) of a [*, k] weight into dst (row-major, stride k). */
    static void widenRows(MemorySegment seg, DType dt, int row0, int rows, int k, float[] dst) {
        long n = (long) rows * k;
        long base = (long) row0 * k;
        switch (dt) {
            case F32 -> MemorySegment.copy(seg, F32, base * 4, dst, 0, (int) n);
            case BF16 -> widenBf16(seg, base * 2, dst, 0, (int) n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst[i] = Float.float16ToFloat(seg.getAtIndex(I16, base + i));
            }
            default -> throw new IllegalStateException();
        }
    }

    /** bf16 → f32 is a 16-bit left shift of the bit pattern. */
    public static void widenBf16(MemorySegment seg, long byteOff, float[] dst, int dstOff, int n) {
        int i = 0;
        int L = F.length();
        int bound = n - (n % L);
        for (; i < bound; i += L) {
            ShortVector s = ShortVector.fromMemorySegment(S_HALF, seg, byteOff + 2L * i, ByteOrder.LITTLE_ENDIAN);
            IntVector iv = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
            iv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = Float.intBitsToFloat((seg.get(I16, byteOff + 2L * i) & 0xFFFF) << 16);
        }
    }

    /** Multiplies all n rows of x with the widened weight rows j0..j1 (2×4 register tile). */
    private static void multiplyBlock(float[] x, int xOff, int n, int k, float[] wb, int j0, int j1, int m,
                                      float[] bias, float[] out, int outOff) {
        int rows = j1 - j0;
        int bound = F.loopBound(k);
        int i = 0;
        for (; i + 1 < n; i += 2) {
            int x0 = xOff + i * k, x1 = x0 + k;
            int r = 0;
            for (; r + 3 < rows; r += 4) {
                int w0 = r * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
                FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
                FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                int t = 0;
                for (; t < bound; t += F.length()) {
                    FloatVector xv0 = FloatVector.fromArray(F, x, x0 + t);
                    FloatVector xv1 = FloatVector.fromArray(F, x, x1 + t);
                    FloatVector wv = FloatVector.fromArray(F, wb, w0 + t);
                    a00 = xv0.fma(wv, a00);
                    a10 = xv1.fma(wv, a10);
                    wv = FloatVector.fromArray(F, wb, w1 + t);
                    a01 = xv0.fma(wv, a01);
                    a11 = xv1.fma(wv, a11);
                    wv = FloatVector.fromArray(F, wb, w2 + t);
                    a02 = xv0.fma(wv, a02);
                    a12 = xv1.fma(wv, a12);
                    wv = FloatVector.fromArray(F, wb, w3 + t);
                    a03 = xv0.fma(wv, a03);
                    a13 = xv1.fma(wv, a13);
                }
                float s00 = a00.reduceLanes(VectorOperators.ADD), s01 = a01.reduceLanes(VectorOperators.ADD);
                float s02 = a02.reduceLanes(VectorOperators.ADD), s03 = a03.reduceLanes(VectorOperators.ADD);
                float s10 = a10.reduceLanes(VectorOperators.ADD), s11 = a11.reduceLanes(VectorOperators.ADD);
                float s12 = a12.reduceLanes(VectorOperators.ADD), s13 = a13.reduceLanes(VectorOperators.ADD);
                for (; t < k; t++) {
                    float xa = x[x0 + t], xb = x[x1 + t];
                    s00 += xa * wb[w0 + t]; s01 += xa * wb[w1 + t]; s02 += xa * wb[w2 + t]; s03 += xa * wb[w3 + t];
                    s10 += xb * wb[w0 + t]; s11 += xb * wb[w1 + t]; s12 += xb * wb[w2 + t]; s13 += xb * wb[w3 + t];
                }
                int j = j0 + r;
                int o0 = outOff + i * m + j, o1 = o0 + m;
                float b0 = 0, b1 = 0, b2 = 0, b3 = 0;
                if (bias != null) { b0 = bias[j]; b1 = bias[j + 1]; b2 = bias[j + 2]; b3 = bias[j + 3]; }
                out[o0] = s00 + b0; out[o0 + 1] = s01 + b1; out[o0 + 2] = s02 + b2; out[o0 + 3] = s03 + b3;
                out[o1] = s10 + b0; out[o1 + 1] = s11 + b1; out[o1 + 2] = s12 + b2; out[o1 + 3] = s13 + b3;
            }
            for (; r < rows; r++) {
                int j = j0 + r;
                float b = bias == null ? 0 : bias[j];
                out[outOff + i * m + j] = VectorMath.dot(x, x0, wb, r * k, k) + b;
                out[outOff + (i + 1) * m + j] = VectorMath.dot(x, x1, wb, r * k, k) + b;
            }
        }
        for (; i < n; i++) {
            int x0 = xOff + i * k;
            for (int r = 0; r < rows; r++) {
                int j = j0 + r;
                out[outOff + i * m + j] = VectorMath.dot(x, x0, wb, r * k, k) + (bias == null ? 0 : bias[j]);
            }
        }
    }
}
