package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Widening of stored weights (F32, F16, BF16, Q8_0, Q4_0) to float, for the GEMM's packed panels. */
public final class Packing {
    private static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    @SuppressWarnings("unchecked")
    private static final VectorSpecies<Short> S_HALF =
            (VectorSpecies<Short>) VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Packing() {}

    /**
     * Widens n consecutive values starting at element index first of a row-major weight [m, k] into dst
     * (within one row for Q4_0_R8 and Q8_0_R8). For the quantized types first and n must be multiples of 32.
     */
    static void widen(MemorySegment seg, DType dt, int k, long first, float[] dst, int dstOff, int n) {
        switch (dt) {
            case F32 -> MemorySegment.copy(seg, F32, first * 4, dst, dstOff, n);
            case BF16 -> widenBf16(seg, first * 2, dst, dstOff, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(seg.get(I16, 2 * (first + i)));
            }
            case Q8_0 -> dequantizeQ8(seg, first, dst, dstOff, n);
            case Q4_0 -> dequantizeQ4(seg, first, dst, dstOff, n);
            case Q4_0_R8 -> dequantizeQ4R8(seg, k, first, dst, dstOff, n);
            case Q8_0_R8 -> dequantizeQ8R8(seg, k, first, dst, dstOff, n);
            default -> throw new IllegalArgumentException("unsupported weight type " + dt);
        }
    }

    /** Q4_0_R8 values of one row (see {@link DType#Q4_0_R8}) → float; the same products (nibble − 8)·d. */
    static void dequantizeQ4R8(MemorySegment seg, int k, long first, float[] dst, int dstOff, int n) {
        long row = first / k;
        int col0 = (int) (first % k);
        for (int i = 0; i < n; i += 32) {
            long b = (col0 + i) / 32;
            float d = Float.float16ToFloat(seg.get(I16, Quant.r8ScaleOffset(DType.Q4_0_R8, k, row, b)));
            for (int c = 0; c < 4; c++) {
                int word = seg.get(I32, Quant.r8QuantOffset(DType.Q4_0_R8, k, row, b, 4 * c));
                for (int e = 0; e < 4; e++) {
                    int v = word >>> (8 * e);
                    dst[dstOff + i + 4 * c + e] = ((v & 0xF) - 8) * d;
                    dst[dstOff + i + 16 + 4 * c + e] = (((v >>> 4) & 0xF) - 8) * d;
                }
            }
        }
    }

    /** Q8_0_R8 values of one row (see {@link DType#Q8_0_R8}) → float; the same products q·d. */
    static void dequantizeQ8R8(MemorySegment seg, int k, long first, float[] dst, int dstOff, int n) {
        long row = first / k;
        int col0 = (int) (first % k);
        for (int i = 0; i < n; i += 32) {
            long b = (col0 + i) / 32;
            float d = Float.float16ToFloat(seg.get(I16, Quant.r8ScaleOffset(DType.Q8_0_R8, k, row, b)));
            for (int q = 0; q < 32; q++) {
                dst[dstOff + i + q] = seg.get(ValueLayout.JAVA_BYTE, Quant.r8QuantOffset(DType.Q8_0_R8, k, row, b, q)) * d;
            }
        }
    }

    private static final VectorSpecies<Integer> I8LANES = IntVector.SPECIES_256;

    /**
     * Packs Q4_0_R8 rows [j0, j0+cols) × depth [pc, pc+kc) (j0, cols multiples of 8; pc, kc of 32) into the GEMM's
     * panels of nr rows, slab[p][t][q] = W[j0 + p·nr + q][pc + t], straight from the interleaved blocks: the 32-bit
     * lane r of a chunk holds four values of row r, so one shift and mask give the same depth for all 8 rows of a
     * group — 8 consecutive slab floats — without a transpose. d is scratch of at least 8 floats.
     */
    static void packQ4R8(MemorySegment seg, int k, int j0, int cols, int pc, int kc, int nr, float[] slab, float[] d) {
        int blocks = k / 32;
        for (int g = 0; g < cols / Quant.R8_ROWS; g++) {
            int rowInGroup0 = g * Quant.R8_ROWS, p = rowInGroup0 / nr, q0 = rowInGroup0 % nr;
            int base = p * nr * kc;
            long group = (j0 + rowInGroup0) / Quant.R8_ROWS;
            for (int t0 = 0; t0 < kc; t0 += 32) {
                long blk = (group * blocks + (pc + t0) / 32) * Quant.r8GroupBlock(DType.Q4_0_R8);
                for (int r = 0; r < Quant.R8_ROWS; r++) d[r] = Float.float16ToFloat(seg.get(I16, blk + 2L * r));
                FloatVector dv = FloatVector.fromArray(FloatVector.SPECIES_256, d, 0);
                FloatVector minus8d = dv.mul(-8f);
                for (int c = 0; c < 4; c++) {
                    IntVector v = IntVector.fromMemorySegment(I8LANES, seg, blk + 16 + 32L * c, ByteOrder.LITTLE_ENDIAN);
                    for (int e = 0; e < 4; e++) {
                        IntVector lo = v.lanewise(VectorOperators.LSHR, 8 * e).and(0xF);
                        IntVector hi = v.lanewise(VectorOperators.LSHR, 8 * e + 4).and(0xF);
                        ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(dv, minus8d)
                                .intoArray(slab, base + (t0 + 4 * c + e) * nr + q0);
                        ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(dv, minus8d)
                                .intoArray(slab, base + (t0 + 16 + 4 * c + e) * nr + q0);
                    }
                }
            }
        }
    }

    /** L bytes as one vector; there is none below 64 bits, so 128-bit floats (L = 4) dequantize one value at a time. */
    @SuppressWarnings("unchecked")
    private static final VectorSpecies<Byte> BQ = F.length() * 8 < 64 ? null
            : (VectorSpecies<Byte>) VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));
    private static final boolean VECTOR_BLOCKS = BQ != null && 16 % F.length() == 0;

    /** Q8_0 blocks → float, vectorised; the same products q·d as {@link Quant#dequantize}. */
    static void dequantizeQ8(MemorySegment seg, long first, float[] dst, int dstOff, int n) {
        if (!VECTOR_BLOCKS) {
            Quant.dequantize(DType.Q8_0, seg, first, dst, dstOff, n);
            return;
        }
        int L = F.length();
        for (int i = 0; i < n; i += 32) {
            long b = (first + i) / 32 * 34;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, b)));
            for (int s = 0; s < 32; s += L) {
                ((FloatVector) ByteVector.fromMemorySegment(BQ, seg, b + 2 + s, ByteOrder.LITTLE_ENDIAN)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, dstOff + i + s);
            }
        }
    }

    /** Q4_0 blocks → float, vectorised; the same products (nibble − 8)·d as {@link Quant#dequantize}. */
    static void dequantizeQ4(MemorySegment seg, long first, float[] dst, int dstOff, int n) {
        if (!VECTOR_BLOCKS) {
            Quant.dequantize(DType.Q4_0, seg, first, dst, dstOff, n);
            return;
        }
        int L = F.length();
        for (int i = 0; i < n; i += 32) {
            long b = (first + i) / 32 * 18;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, b)));
            for (int s = 0; s < 16; s += L) {
                IntVector v = ByteVector.fromMemorySegment(BQ, seg, b + 2 + s, ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
                ByteVector lo = v.and(0x0F0F0F0F).reinterpretAsBytes().sub((byte) 8);
                ByteVector hi = v.lanewise(VectorOperators.LSHR, 4).and(0x0F0F0F0F).reinterpretAsBytes().sub((byte) 8);
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, dstOff + i + s);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, dstOff + i + 16 + s);
            }
        }
    }

    /** bf16 → f32 is a 16-bit left shift of the bit pattern. */
    static void widenBf16(MemorySegment seg, long byteOff, float[] dst, int dstOff, int n) {
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

    /** IEEE half → float for n values of a short array ({@code Float.float16ToFloat} compiles to vcvtph2ps). */
    public static void widenF16(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(src[srcOff + i]);
    }

    /** float → IEEE half (round to nearest even) for n values. */
    public static void narrowF16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) dst[dstOff + i] = Float.floatToFloat16(src[srcOff + i]);
    }
}
