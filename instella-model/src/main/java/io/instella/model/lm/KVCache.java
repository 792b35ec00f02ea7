package io.instella.model.lm;

import io.instella.core.kernels.Packing;
import io.instella.core.tensor.DType;
import io.instella.model.config.TextConfig;

/**
 * Keys and values of every layer for positions [0, length), stored per layer head-major:
 * [kvHead][position][headDim], so that one head's rows are one contiguous run (decode attention reads
 * them front to back as a single stream; with rows [position][kvDim] it read 512-byte pieces 8 KB apart
 * and reached about half the memory rate). Elements are F32 (exact) or F16 (half the bytes to read per
 * decode step, as llama.cpp's default cache). Grows on demand up to a fixed maximum; {@link #truncate}
 * rewinds it (prefix reuse).
 */
public final class KVCache {
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int maxLength;
    private final DType type;
    private float[][] keys, values;     // F32
    private short[][] keys16, values16; // F16
    private int capacity;
    private int length;

    /** Caches bounded by this many positions or fewer are allocated at full size up front. */
    static final int WHOLE_UP_TO = 4096;

    public KVCache(TextConfig config, int maxLength) {
        this(config, maxLength, DType.F32);
    }

    public KVCache(TextConfig config, int maxLength, DType type) {
        if (type != DType.F32 && type != DType.F16) {
            throw new IllegalArgumentException("a KV cache holds F32 or F16 values, not " + type);
        }
        this.layers = config.numLayers();
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.maxLength = maxLength;
        this.type = type;
        if (type == DType.F32) {
            keys = new float[layers][];
            values = new float[layers][];
        } else {
            keys16 = new short[layers][];
            values16 = new short[layers][];
        }
        // A cache whose bound is known and moderate is allocated whole: growing it later copies every layer
        // while the old arrays are still live (twice the memory at the peak). Only very long bounds grow.
        ensureCapacity(maxLength <= WHOLE_UP_TO ? maxLength : Math.min(maxLength, 256));
    }

    public int length() { return length; }

    public int maxLength() { return maxLength; }

    public int kvDim() { return kvHeads * headDim; }

    /** The element type: F32 or F16. */
    public DType type() { return type; }

    /** Elements from one key/value head of a layer's array to the next (rows within a head are headDim apart). */
    public int headStride() { return capacity * headDim; }

    /** A layer's keys when {@link #type()} is F32 (head-major, see the class comment). */
    public float[] keys(int layer) { return keys[layer]; }

    public float[] values(int layer) { return values[layer]; }

    /** A layer's keys when {@link #type()} is F16 (IEEE half bit patterns). */
    public short[] keys16(int layer) { return keys16[layer]; }

    public short[] values16(int layer) { return values16[layer]; }

    /** Rewinds to the first {@code newLength} positions. */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) throw new IllegalArgumentException("cannot truncate a cache of " + length + " to " + newLength);
        length = newLength;
    }

    public void clear() { length = 0; }

    void ensureCapacity(int needed) {
        if (needed > maxLength) {
            throw new IllegalStateException("sequence of " + needed + " positions exceeds the KV cache limit of " + maxLength);
        }
        if (needed <= capacity) return;
        int cap = (int) Math.min(maxLength, Math.max(needed, (long) capacity * 2));
        int oldStride = capacity * headDim, newStride = cap * headDim;
        for (int l = 0; l < layers; l++) {
            if (type == DType.F32) {
                keys[l] = regrow(keys[l], cap, oldStride, newStride);
                values[l] = regrow(values[l], cap, oldStride, newStride);
            } else {
                keys16[l] = regrow(keys16[l], cap, oldStride, newStride);
                values16[l] = regrow(values16[l], cap, oldStride, newStride);
            }
        }
        capacity = cap;
    }

    /** A larger head-major array with each head's old rows moved to its new place. */
    private float[] regrow(float[] old, int cap, int oldStride, int newStride) {
        float[] a = new float[kvHeads * cap * headDim];
        if (old != null) for (int g = 0; g < kvHeads; g++) System.arraycopy(old, g * oldStride, a, g * newStride, oldStride);
        return a;
    }

    private short[] regrow(short[] old, int cap, int oldStride, int newStride) {
        short[] a = new short[kvHeads * cap * headDim];
        if (old != null) for (int g = 0; g < kvHeads; g++) System.arraycopy(old, g * oldStride, a, g * newStride, oldStride);
        return a;
    }

    /**
     * Writes n rows of keys and values for one layer at positions start..start+n; row i of k is
     * k[kOff + i·kvDim ..] (all heads of one position, the projections' layout), likewise v.
     */
    void put(int layer, int start, float[] k, int kOff, float[] v, int vOff, int n) {
        ensureCapacity(start + n);
        int kvDim = kvDim(), stride = headStride();
        for (int i = 0; i < n; i++) {
            for (int g = 0; g < kvHeads; g++) {
                int src = i * kvDim + g * headDim, dst = g * stride + (start + i) * headDim;
                if (type == DType.F32) {
                    System.arraycopy(k, kOff + src, keys[layer], dst, headDim);
                    System.arraycopy(v, vOff + src, values[layer], dst, headDim);
                } else {
                    Packing.narrowF16(k, kOff + src, keys16[layer], dst, headDim);
                    Packing.narrowF16(v, vOff + src, values16[layer], dst, headDim);
                }
            }
        }
    }

    void setLength(int newLength) { this.length = newLength; }

    public long bytes() { return 2L * layers * capacity * kvDim() * type.byteSize(); }
}
