package io.instella.model.lora;

import io.instella.core.kernels.MatMul;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

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
        float[] delta = product(p);
        float[] merged = new float[delta.length];
        w.copyRowsTo(0, p.out(), merged, 0);
        for (int i = 0; i < merged.length; i++) merged[i] += delta[i] * scale;
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
        MemorySegment bytes = bytes(values, type);
        MemorySegment seg = Arena.ofAuto().allocate(bytes.byteSize(), 64);
        MemorySegment.copy(bytes, 0, seg, 0, bytes.byteSize());
        return new Tensor(name, type, shape, seg);
    }

    /** Float32 values encoded as {@code type} (F32; BF16 and F16 rounded to nearest even), little-endian, on the heap. */
    public static MemorySegment bytes(float[] values, DType type) {
        return switch (type) {
            case F32 -> SafeTensorsWriter.toF32(values);
            case BF16 -> SafeTensorsWriter.toBf16(values);
            case F16 -> SafeTensorsWriter.toF16(values);
            default -> throw new LoraException("cannot store merged weights as " + type + " (f32, bf16 or f16)");
        };
    }
}
