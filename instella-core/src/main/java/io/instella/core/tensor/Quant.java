package io.instella.core.tensor;

import io.instella.core.kernels.Parallel;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * llama.cpp's block-32 weight quantizers, bit for bit ({@code quantize_row_q8_0_ref},
 * {@code quantize_row_q4_0_ref}): the same scales, the same rounding, the same byte layout, so a
 * block written here is byte-identical to the one ggml writes for the same 32 floats.
 */
public final class Quant {
    public static final int BLOCK = 32;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Quant() {}

    /** C's roundf: round half away from zero, exact for every float. */
    static float roundHalfAway(float v) {
        float a = Math.abs(v);
        float f = (float) Math.floor(a);
        if (a - f >= 0.5f) f += 1f; // a - f is exact for a < 2^23; above that a is already an integer
        return Math.copySign(f, v);
    }

    /**
     * Quantizes x[off, off+32) into one Q8_0 block at dst+dstOff: d = max|x| / 127 stored as f16,
     * q = roundf(x / d) computed with the unrounded d (as ggml does).
     */
    public static void quantizeBlockQ8_0(float[] x, int off, MemorySegment dst, long dstOff) {
        float amax = 0;
        for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[off + j]));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        dst.set(I16, dstOff, Float.floatToFloat16(d));
        for (int j = 0; j < BLOCK; j++) {
            dst.set(ValueLayout.JAVA_BYTE, dstOff + 2 + j, (byte) (int) roundHalfAway(x[off + j] * id));
        }
    }

    /**
     * Quantizes x[off, off+32) into one Q4_0 block: max = the value of largest magnitude (with its sign),
     * d = max / −8, nibble = min(15, trunc(x/d + 8.5)); byte j packs value j (low) and j+16 (high).
     */
    public static void quantizeBlockQ4_0(float[] x, int off, MemorySegment dst, long dstOff) {
        float amax = 0, max = 0;
        for (int j = 0; j < BLOCK; j++) {
            float v = x[off + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        dst.set(I16, dstOff, Float.floatToFloat16(d));
        for (int j = 0; j < BLOCK / 2; j++) {
            int lo = Math.min(15, (byte) (int) (x[off + j] * id + 8.5f));
            int hi = Math.min(15, (byte) (int) (x[off + j + BLOCK / 2] * id + 8.5f));
            dst.set(ValueLayout.JAVA_BYTE, dstOff + 2 + j, (byte) (lo | (hi << 4)));
        }
    }

    private static final VectorSpecies<Float> F = io.instella.core.kernels.Vectors.FLOAT;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** L bytes as one vector; there is none below 64 bits, so with 128-bit floats (L = 4) the scalar quantizer runs. */
    @SuppressWarnings("unchecked")
    private static final VectorSpecies<Byte> B = L * 8 < 64 ? null
            : (VectorSpecies<Byte>) VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final boolean VECTOR = B != null && BLOCK % L == 0;

    /**
     * The Q8_0 quantizer with vectors, bit-identical to {@link #quantizeBlockQ8_0}: the same float
     * operations per value (x·id, then round half away from zero via truncation and the exact fraction).
     */
    static void quantizeBlockQ8_0Vector(float[] x, int off, byte[] dst, int dstOff) {
        FloatVector amaxV = FloatVector.zero(F);
        for (int s = 0; s < BLOCK; s += L) amaxV = amaxV.max(FloatVector.fromArray(F, x, off + s).abs());
        float amax = amaxV.reduceLanes(VectorOperators.MAX);
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        short h = Float.floatToFloat16(d);
        dst[dstOff] = (byte) h;
        dst[dstOff + 1] = (byte) (h >> 8);
        for (int s = 0; s < BLOCK; s += L) {
            FloatVector v = FloatVector.fromArray(F, x, off + s).mul(id);
            FloatVector a = v.abs();
            IntVector t = (IntVector) a.convertShape(VectorOperators.F2I, I, 0);
            FloatVector frac = a.sub((FloatVector) t.convertShape(VectorOperators.I2F, F, 0));
            t = t.add(1, frac.compare(VectorOperators.GE, 0.5f).cast(I));
            t = t.lanewise(VectorOperators.NEG, v.compare(VectorOperators.LT, 0f).cast(I));
            ((ByteVector) t.convertShape(VectorOperators.I2B, B, 0)).intoArray(dst, dstOff + 2 + s);
        }
    }

    /** The Q4_0 quantizer with vectors, bit-identical to {@link #quantizeBlockQ4_0} (first largest magnitude wins). */
    static void quantizeBlockQ4_0Vector(float[] x, int off, byte[] dst, int dstOff, int[] nib) {
        FloatVector amaxV = FloatVector.zero(F);
        for (int s = 0; s < BLOCK; s += L) amaxV = amaxV.max(FloatVector.fromArray(F, x, off + s).abs());
        float amax = amaxV.reduceLanes(VectorOperators.MAX);
        float max = 0;
        if (amax > 0) {
            for (int s = 0; s < BLOCK; s += L) {
                int first = FloatVector.fromArray(F, x, off + s).abs().compare(VectorOperators.EQ, amax).firstTrue();
                if (first < L) {
                    max = x[off + s + first];
                    break;
                }
            }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        short h = Float.floatToFloat16(d);
        dst[dstOff] = (byte) h;
        dst[dstOff + 1] = (byte) (h >> 8);
        for (int s = 0; s < BLOCK; s += L) {
            IntVector q = (IntVector) FloatVector.fromArray(F, x, off + s).mul(id).add(8.5f).convertShape(VectorOperators.F2I, I, 0);
            q.min(15).intoArray(nib, s);
        }
        for (int j = 0; j < BLOCK / 2; j++) dst[dstOff + 2 + j] = (byte) (nib[j] | (nib[j + BLOCK / 2] << 4));
    }

    private static final ThreadLocal<byte[]> ROW_BYTES = ThreadLocal.withInitial(() -> new byte[0]);
    private static final ThreadLocal<int[]> NIBBLES = ThreadLocal.withInitial(() -> new int[BLOCK]);

    /** Quantizes n values (a multiple of 32) of x into consecutive blocks of the given type. */
    public static void quantizeRow(DType type, float[] x, int off, int n, MemorySegment dst, long dstOff) {
        if (VECTOR && (type == DType.Q8_0 || type == DType.Q4_0)) {
            if (n % BLOCK != 0) throw new IllegalArgumentException("a row of " + n + " values is not whole blocks of " + BLOCK);
            int bytes = Math.toIntExact(type.bytesFor(n));
            byte[] buf = ROW_BYTES.get();
            if (buf.length < bytes) {
                buf = new byte[bytes];
                ROW_BYTES.set(buf);
            }
            int[] nib = NIBBLES.get();
            for (int b = 0; b < n / BLOCK; b++) {
                if (type == DType.Q8_0) quantizeBlockQ8_0Vector(x, off + b * BLOCK, buf, b * 34);
                else quantizeBlockQ4_0Vector(x, off + b * BLOCK, buf, b * 18, nib);
            }
            MemorySegment.copy(buf, 0, dst, ValueLayout.JAVA_BYTE, dstOff, bytes);
            return;
        }
        quantizeRowScalar(type, x, off, n, dst, dstOff);
    }

    /** The reference (scalar) quantizer, one block at a time. */
    static void quantizeRowScalar(DType type, float[] x, int off, int n, MemorySegment dst, long dstOff) {
        if (n % BLOCK != 0) throw new IllegalArgumentException("a row of " + n + " values is not whole blocks of " + BLOCK);
        int bb = type.byteSize();
        for (int b = 0; b < n / BLOCK; b++) {
            switch (type) {
                case Q8_0 -> quantizeBlockQ8_0(x, off + b * BLOCK, dst, dstOff + (long) b * bb);
                case Q4_0 -> quantizeBlockQ4_0(x, off + b * BLOCK, dst, dstOff + (long) b * bb);
                default -> throw new IllegalArgumentException(type + " is not a block-quantized type");
            }
        }
    }

    /** Dequantizes n values (whole blocks) starting at block-aligned element index first. */
    public static void dequantize(DType type, MemorySegment src, long first, float[] dst, int dstOff, int n) {
        int bb = type.byteSize();
        for (int i = 0; i < n; i += BLOCK) {
            long b = (first + i) / BLOCK * bb;
            float d = Float.float16ToFloat(src.get(I16, b));
            switch (type) {
                case Q8_0 -> {
                    for (int j = 0; j < BLOCK; j++) dst[dstOff + i + j] = src.get(ValueLayout.JAVA_BYTE, b + 2 + j) * d;
                }
                case Q4_0 -> {
                    for (int j = 0; j < BLOCK / 2; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, b + 2 + j) & 0xFF;
                        dst[dstOff + i + j] = ((q & 0xF) - 8) * d;
                        dst[dstOff + i + j + BLOCK / 2] = ((q >>> 4) - 8) * d;
                    }
                }
                default -> throw new IllegalArgumentException(type + " is not a block-quantized type");
            }
        }
    }

    /** Rows per interleaved group of {@link DType#Q4_0_R8} and {@link DType#Q8_0_R8}. */
    public static final int R8_ROWS = 8;

    /**
     * Q4_0 or Q8_0 [m, k] (m a multiple of 8) → its row-interleaved layout ({@link DType#Q4_0_R8},
     * {@link DType#Q8_0_R8}) in memory from arena: a permutation of the bytes (each row's quant bytes move in
     * 4-byte pieces; Q4_0 keeps its nibble pairs). Groups of rows are repacked in parallel, so the arena must be
     * shared.
     */
    public static Tensor repackR8(Tensor w, Arena arena) {
        DType plain = w.dtype(), r8 = plain.interleaved();
        if (r8 == null || plain.isInterleaved() || w.rank() != 2 || w.dim(0) % R8_ROWS != 0) {
            throw new IllegalArgumentException(w.name() + ": only Q4_0 and Q8_0 matrices with a multiple of 8 rows are repacked, not " + w);
        }
        int groups = Math.toIntExact(w.dim(0) / R8_ROWS), blocks = Math.toIntExact(w.dim(1) / BLOCK);
        MemorySegment src = w.data();
        MemorySegment dst = io.instella.core.safetensors.MappedMemory.allocateUninitialized(w.byteSize(), arena);
        if (io.instella.core.kernels.NativeKernels.available() && src.isNative()) {
            // At load time this touches every byte of the weights: the native copy runs at memory speed.
            int k = Math.toIntExact(w.dim(1));
            io.instella.core.kernels.Parallel.forRange(groups, 16,
                    (g0, g1) -> io.instella.core.kernels.NativeKernels.repackR8(plain, src, dst, k, g0, g1));
            return new Tensor(w.name(), r8, w.shape(), dst);
        }
        repackJava(plain, src, dst, groups, blocks);
        return new Tensor(w.name(), r8, w.shape(), dst);
    }

    /** Q4_0_R8 / Q8_0_R8 → plain Q4_0 / Q8_0 (the inverse permutation), for the Java kernels where the native ones do not run. */
    public static Tensor unpackR8(Tensor w, Arena arena) {
        if (!w.dtype().isInterleaved() || w.rank() != 2) throw new IllegalArgumentException(w.name() + " is not row-interleaved: " + w);
        DType plain = w.dtype().plain();
        int groups = Math.toIntExact(w.dim(0) / R8_ROWS), blocks = Math.toIntExact(w.dim(1) / BLOCK);
        MemorySegment dst = arena.allocate(w.byteSize(), 64);
        permuteR8(plain, w.data(), dst, groups, blocks, false);
        return new Tensor(w.name(), plain, w.shape(), dst);
    }

    /** The reference repack of a Q4_0 or Q8_0 matrix (and the path without the native library). */
    static void repackJava(DType plain, MemorySegment src, MemorySegment dst, int groups, int blocks) {
        permuteR8(plain, src, dst, groups, blocks, true);
    }

    /** Bytes of one group-block of an interleaved layout: 8 scales and 8 rows' quant bytes of one block column. */
    public static int r8GroupBlock(DType type) {
        return R8_ROWS * type.byteSize();
    }

    /**
     * The byte permutation between Q4_0/Q8_0 and their R8 layouts, plain → R8 ({@code toR8}) or back: per group of
     * 8 rows and block, row r's f16 scale ↔ scale slot r, and its quant bytes 4c..4c+3 ↔ lane r of chunk c.
     */
    private static void permuteR8(DType plain, MemorySegment src, MemorySegment dst, int groups, int blocks, boolean toR8) {
        int blockBytes = plain.byteSize(), chunks = (blockBytes - 2) / 4, groupBlock = R8_ROWS * blockBytes;
        io.instella.core.kernels.Parallel.forRange(groups, 4, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                for (int b = 0; b < blocks; b++) {
                    long r8 = ((long) g * blocks + b) * groupBlock;
                    for (int r = 0; r < R8_ROWS; r++) {
                        long row = (((long) g * R8_ROWS + r) * blocks + b) * blockBytes;
                        if (toR8) dst.set(I16, r8 + 2L * r, src.get(I16, row));
                        else dst.set(I16, row, src.get(I16, r8 + 2L * r));
                        for (int c = 0; c < chunks; c++) {
                            long rowOff = row + 2 + 4L * c, r8Off = r8 + 16 + 32L * c + 4L * r;
                            if (toR8) dst.set(I32, r8Off, src.get(I32, rowOff));
                            else dst.set(I32, rowOff, src.get(I32, r8Off));
                        }
                    }
                }
            }
        });
    }

    /** Byte offset of quant byte q (0..15 for Q4_0, 0..31 for Q8_0) of row {@code row}'s block b in R8 data. */
    public static long r8QuantOffset(DType type, long k, long row, long b, int q) {
        long base = ((row / R8_ROWS) * (k / BLOCK) + b) * r8GroupBlock(type);
        return base + 16 + 32L * (q / 4) + 4 * (row % R8_ROWS) + q % 4;
    }

    /** Byte offset of the f16 scale of row {@code row}'s block b in R8 data. */
    public static long r8ScaleOffset(DType type, long k, long row, long b) {
        return ((row / R8_ROWS) * (k / BLOCK) + b) * r8GroupBlock(type) + 2 * (row % R8_ROWS);
    }

    /** Element i (row-major over [m, k]) of Q4_0_R8 or Q8_0_R8 data, dequantized. */
    public static float elementR8(DType type, MemorySegment src, long k, long i) {
        long row = i / k, col = i % k, b = col / BLOCK;
        int j = (int) (col % BLOCK);
        float d = Float.float16ToFloat(src.get(I16, r8ScaleOffset(type, k, row, b)));
        if (type == DType.Q8_0_R8) return src.get(ValueLayout.JAVA_BYTE, r8QuantOffset(type, k, row, b, j)) * d;
        int v = src.get(ValueLayout.JAVA_BYTE, r8QuantOffset(type, k, row, b, j % 16)) & 0xFF;
        return ((j < 16 ? v & 0xF : v >>> 4) - 8) * d;
    }

    /** Element i of a quantized tensor's data, dequantized. */
    static float element(DType type, MemorySegment src, long i) {
        long b = i / BLOCK * type.byteSize();
        int j = (int) (i % BLOCK);
        float d = Float.float16ToFloat(src.get(I16, b));
        return switch (type) {
            case Q8_0 -> src.get(ValueLayout.JAVA_BYTE, b + 2 + j) * d;
            case Q4_0 -> {
                int q = src.get(ValueLayout.JAVA_BYTE, b + 2 + (j % 16)) & 0xFF;
                yield ((j < 16 ? q & 0xF : q >>> 4) - 8) * d;
            }
            default -> throw new IllegalArgumentException(type + " is not a block-quantized type");
        };
    }

    /**
     * Quantizes a 2-D float weight (rows of a multiple of 32 values) into memory allocated from arena.
     * Deterministic: the same input always gives the same bytes. Rows are quantized in parallel, so the
     * arena must be shared (or global/automatic), not confined.
     */
    public static Tensor quantize(Tensor w, DType type, Arena arena) {
        if (!type.isQuantized()) throw new IllegalArgumentException(type + " is not a block-quantized type");
        if (w.rank() != 2) throw new IllegalArgumentException(w.name() + ": only matrices are quantized, not " + w);
        if (!w.dtype().isFloatingPoint()) throw new IllegalArgumentException(w.name() + ": cannot quantize " + w.dtype());
        int m = Math.toIntExact(w.dim(0)), k = Math.toIntExact(w.dim(1));
        if (k % BLOCK != 0) {
            throw new IllegalArgumentException(w.name() + ": rows of " + k + " values cannot be split into blocks of " + BLOCK);
        }
        long rowBytes = type.bytesFor(k);
        MemorySegment out = arena.allocate(rowBytes * m, 64);
        Parallel.forRange(m, 16, (r0, r1) -> {
            float[] row = new float[k];
            for (int r = r0; r < r1; r++) {
                w.copyRowsTo(r, 1, row, 0);
                quantizeRow(type, row, 0, k, out, r * rowBytes);
            }
        });
        return new Tensor(w.name(), type, w.shape(), out);
    }

    /** The whole tensor dequantized (for checks and small tensors). */
    public static float[] dequantizeAll(Tensor t) {
        int n = Math.toIntExact(t.numel());
        float[] out = new float[n];
        dequantize(t.dtype(), t.data(), 0, out, 0, n);
        return out;
    }
}
