package io.instella.model.lora;

import io.instella.core.kernels.MatMul;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Merging an adapter pair into its base weight, W' = W + scale · (B·A), in float32 as peft's merge does on a CPU
 * (B·A first, then the scale, then the sum). Both {@code --lora DIR} at load time and {@code instella train
 * merge-lora} call this one function, so the two give bit-identical weights.
 */
public final class LoraMerge {
    private LoraMerge() {}

    /** W + scale · B·A as a row-major float32 [out, in] array; W may be F32, BF16 or F16. */
    public static float[] merge(Tensor w, LoraPair p, float scale) {
        if (w.rank() != 2 || w.dim(0) != p.out() || w.dim(1) != p.in()) {
            throw new LoraException("'" + w.name() + "' has shape " + java.util.Arrays.toString(w.shape())
                    + " but the adapter for it makes [" + p.out() + ", " + p.in() + "]");
        }
        float[] merged = product(p); // B·A, then W + scale · (B·A) in place, a row of W at a time
        float[] row = new float[p.in()];
        for (int o = 0; o < p.out(); o++) {
            w.copyRowsTo(o, 1, row, 0);
            int off = o * p.in();
            for (int i = 0; i < row.length; i++) merged[off + i] = row[i] + merged[off + i] * scale;
        }
        return merged;
    }

    /** B·A [out, in] in float32, through the project's GEMM: rows of B times the transposed A. */
    static float[] product(LoraPair p) {
        int size = Math.multiplyExact(p.out(), p.in());
        float[] at = new float[p.in() * p.r()];
        for (int k = 0; k < p.r(); k++) {
            for (int i = 0; i < p.in(); i++) at[i * p.r() + k] = p.a()[k * p.in() + i];
        }
        float[] c = new float[size];
        MatMul.linear(p.b(), 0, p.out(), Tensor.ofFloats("lora_A^T", at, p.in(), p.r()), null, c, 0);
        return c;
    }

    /**
     * Float32 values as a tensor of {@code type} (F32; BF16 and F16 rounded to nearest even) in native memory that
     * the garbage collector frees once the tensor is unreachable.
     */
    public static Tensor store(String name, float[] values, long[] shape, DType type) {
        MemorySegment seg = Arena.ofAuto().allocate(type.bytesFor(values.length), 64);
        switch (type) {
            case F32 -> MemorySegment.copy(values, 0, seg, F32, 0, values.length);
            case BF16, F16 -> MemorySegment.copy(halves(values, type), 0, seg, I16, 0, values.length);
            default -> throw new LoraException("cannot store merged weights as " + type + " (f32, bf16 or f16)");
        }
        return new Tensor(name, type, shape, seg);
    }

    /** Float32 values encoded as {@code type} (F32; BF16 and F16 rounded to nearest even), little-endian, on the heap. */
    public static MemorySegment bytes(float[] values, DType type) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.toIntExact(type.bytesFor(values.length))]);
        switch (type) {
            case F32 -> MemorySegment.copy(values, 0, seg, F32, 0, values.length);
            case BF16, F16 -> MemorySegment.copy(halves(values, type), 0, seg, I16, 0, values.length);
            default -> throw new LoraException("cannot store merged weights as " + type + " (f32, bf16 or f16)");
        }
        return seg;
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** BF16 or F16 bit patterns, rounded to nearest even (a plain array loop: much faster than per-element segment writes). */
    private static short[] halves(float[] values, DType type) {
        short[] half = new short[values.length];
        if (type == DType.BF16) {
            for (int i = 0; i < half.length; i++) half[i] = Tensor.floatToBf16(values[i]);
        } else {
            for (int i = 0; i < half.length; i++) half[i] = Float.floatToFloat16(values[i]);
        }
        return half;
    }
}
