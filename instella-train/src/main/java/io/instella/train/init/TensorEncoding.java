package io.instella.train.init;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Float tensors re-encoded for writing. A converted tensor lives off-heap only while the writer copies it: the
 * safetensors writer asks for one tensor's bytes at a time, so each request frees the previous buffer and the
 * largest single tensor (the 50304 × 2048 embedding) is the most ever held.
 */
final class TensorEncoding implements AutoCloseable {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Arena current;

    /** The tensor's bytes in {@code target}: its own mapped bytes when already of that type, else a converted copy. */
    MemorySegment encode(Tensor t, DType target) {
        if (t.dtype() == target) return t.data();
        long n = t.numel();
        MemorySegment out = allocate(target.bytesFor(n));
        for (long i = 0; i < n; i++) put(out, target, i, t.getFloat(i));
        return out;
    }

    /** Float values in {@code target}. */
    MemorySegment encode(float[] values, DType target) {
        MemorySegment out = allocate(target.bytesFor(values.length));
        for (int i = 0; i < values.length; i++) put(out, target, i, values[i]);
        return out;
    }

    private static void put(MemorySegment out, DType target, long i, float v) {
        switch (target) {
            case BF16 -> out.setAtIndex(I16, i, Tensor.floatToBf16(v));
            case F16 -> out.setAtIndex(I16, i, Float.floatToFloat16(v));
            case F32 -> out.setAtIndex(F32, i, v);
            default -> throw new IllegalArgumentException("cannot write float values as " + target);
        }
    }

    private MemorySegment allocate(long bytes) {
        close();
        current = Arena.ofShared();
        return current.allocate(Math.max(1, bytes), 8).asSlice(0, bytes);
    }

    @Override
    public void close() {
        if (current != null) {
            current.close();
            current = null;
        }
    }
}
