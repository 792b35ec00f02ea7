package io.instella.model.lm;

import io.instella.model.config.TextConfig;

import java.util.Arrays;

/**
 * Keys and values of every layer for positions [0, length), row-major [position][kvDim].
 * Grows on demand up to a fixed maximum; {@link #truncate} rewinds it (prefix reuse).
 */
public final class KVCache {
    private final int layers;
    private final int kvDim;
    private final int maxLength;
    private float[][] keys;
    private float[][] values;
    private int capacity;
    private int length;

    /** Caches bounded by this many positions or fewer are allocated at full size up front. */
    static final int WHOLE_UP_TO = 4096;

    public KVCache(TextConfig config, int maxLength) {
        this.layers = config.numLayers();
        this.kvDim = config.kvDim();
        this.maxLength = maxLength;
        this.keys = new float[layers][];
        this.values = new float[layers][];
        // A cache whose bound is known and moderate is allocated whole: growing it later copies every layer
        // while the old arrays are still live (twice the memory at the peak). Only very long bounds grow.
        ensureCapacity(maxLength <= WHOLE_UP_TO ? maxLength : 256);
    }

    public int length() { return length; }

    public int maxLength() { return maxLength; }

    public int kvDim() { return kvDim; }

    public float[] keys(int layer) { return keys[layer]; }

    public float[] values(int layer) { return values[layer]; }

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
        for (int l = 0; l < layers; l++) {
            keys[l] = keys[l] == null ? new float[cap * kvDim] : Arrays.copyOf(keys[l], cap * kvDim);
            values[l] = values[l] == null ? new float[cap * kvDim] : Arrays.copyOf(values[l], cap * kvDim);
        }
        capacity = cap;
    }

    /** Writes n rows of k and v for one layer at positions start..start+n. */
    void put(int layer, int start, float[] k, float[] v, int n) {
        ensureCapacity(start + n);
        System.arraycopy(k, 0, keys[layer], start * kvDim, n * kvDim);
        System.arraycopy(v, 0, values[layer], start * kvDim, n * kvDim);
    }

    void setLength(int newLength) { this.length = newLength; }

    public long bytes() { return 2L * layers * capacity * kvDim * Float.BYTES; }
}
