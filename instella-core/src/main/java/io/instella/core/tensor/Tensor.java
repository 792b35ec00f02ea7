package io.instella.core.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A typed view of contiguous little-endian memory with a shape. Weights are mmapped and used in place:
 * a BF16 tensor stays BF16 in memory and is widened to float inside the kernels.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Tensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() { return shape.clone(); }

    public int rank() { return shape.length; }

    public long dim(int i) { return shape[i < 0 ? shape.length + i : i]; }

    public long numel() { return numel(shape); }

    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        return n;
    }

    /** Element i as float, widening 16-bit floats exactly. */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, i);
            case BF16 -> bf16ToFloat(data.getAtIndex(I16, i));
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case F64 -> (float) data.getAtIndex(F64, i);
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            case I16 -> data.getAtIndex(I16, i);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            case Q8_0, Q4_0 -> Quant.element(dtype, data, i);
            case Q4_0_R8, Q8_0_R8 -> Quant.elementR8(dtype, data, shape[shape.length - 1], i);
        };
    }

    /** Bytes of the stored data (block-quantized types hold blocks, not one value per element). */
    public long byteSize() { return data.byteSize(); }

    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            case I16 -> data.getAtIndex(I16, i);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            default -> throw new IllegalStateException("tensor " + name + " is " + dtype + ", not an integer tensor");
        };
    }

    /** Copies the whole tensor to a float array (for small tensors: norms, biases, embeddings of a few rows). */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("tensor " + name + " too large for a float[]");
        float[] out = new float[(int) n];
        if (dtype == DType.F32) {
            MemorySegment.copy(data, F32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        }
        return out;
    }

    /** Copies rows [row, row+count) of a 2-D tensor into dst at dstOff, as float. */
    public void copyRowsTo(long row, int count, float[] dst, int dstOff) {
        long cols = shape[shape.length - 1];
        long start = row * cols;
        int n = (int) (count * cols);
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, start * 4, dst, dstOff, n);
            case BF16 -> io.instella.core.kernels.MatMul.widenBf16(data, start * 2, dst, dstOff, n);
            case Q8_0, Q4_0 -> {
                if (cols % Quant.BLOCK != 0) throw new IllegalStateException(name + ": rows are not whole blocks");
                Quant.dequantize(dtype, data, start, dst, dstOff, n);
            }
            default -> {
                for (int i = 0; i < n; i++) dst[dstOff + i] = getFloat(start + i);
            }
        }
    }

    public long[] toLongArray() {
        long n = numel();
        long[] out = new long[Math.toIntExact(n)];
        for (int i = 0; i < out.length; i++) out[i] = getLong(i);
        return out;
    }

    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Round-to-nearest-even float → bfloat16, as PyTorch does (NaN kept quiet). */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return (short) ((bits >>> 16) | 0x0040);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** A heap-backed F32 tensor. */
    public static Tensor ofFloats(String name, float[] values, long... shape) {
        if (numel(shape) != values.length) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " does not hold " + values.length + " values");
        }
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, F32, 0, values.length);
        return new Tensor(name, DType.F32, shape, seg);
    }

    /** A heap-backed I64 tensor. */
    public static Tensor ofLongs(String name, long[] values, long... shape) {
        if (numel(shape) != values.length) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " does not hold " + values.length + " values");
        }
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 8]);
        MemorySegment.copy(values, 0, seg, I64, 0, values.length);
        return new Tensor(name, DType.I64, shape, seg);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) { return this == o; }

    @Override
    public int hashCode() { return System.identityHashCode(this); }
}
