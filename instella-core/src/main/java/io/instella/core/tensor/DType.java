package io.instella.core.tensor;

import java.util.Locale;

/** Element types, named as in the safetensors header. Q8_0/Q4_0 are llama.cpp's block-32 quantized layouts. */
public enum DType {
    F64("F64", 8), F32("F32", 4), F16("F16", 2), BF16("BF16", 2),
    I64("I64", 8), I32("I32", 4), I16("I16", 2), I8("I8", 1), U8("U8", 1), BOOL("BOOL", 1),
    /**
     * llama.cpp {@code block_q8_0}: per 32 consecutive values of a row, an f16 scale d then 32 int8 q
     * (34 bytes); value = d·q. Not a safetensors dtype: files store the blocks as U8 plus metadata.
     */
    Q8_0("Q8_0", 34, 32),
    /**
     * llama.cpp {@code block_q4_0}: per 32 values, an f16 scale d then 16 bytes; byte j holds value j in
     * its low nibble and value j+16 in its high nibble (18 bytes); value = d·(nibble − 8).
     */
    Q4_0("Q4_0", 18, 32),
    /**
     * Q4_0 with rows interleaved by eight (see {@link Quant#repackR8}): for each group of 8 rows and each
     * block column, the 8 rows' f16 scales (16 bytes), then 4 chunks of 32 bytes, chunk c holding bytes
     * 4c..4c+3 of each row's 16 Q4_0 bytes, row after row. One 32-byte load then feeds an 8-row integer dot
     * product whose lanes are the 8 rows. Same bytes per value as Q4_0.
     */
    Q4_0_R8("Q4_0_R8", 18, 32),
    /**
     * Q8_0 with rows interleaved by eight, as {@link #Q4_0_R8}: per group of 8 rows and block column, the 8 f16
     * scales, then 8 chunks of 32 bytes, chunk c holding bytes 4c..4c+3 of each row's 32 int8 values, row after
     * row (272 bytes). Same bytes per value as Q8_0.
     */
    Q8_0_R8("Q8_0_R8", 34, 32);

    private final String safetensorsName;
    private final int blockBytes;
    private final int blockSize;

    DType(String safetensorsName, int byteSize) {
        this(safetensorsName, byteSize, 1);
    }

    DType(String safetensorsName, int blockBytes, int blockSize) {
        this.safetensorsName = safetensorsName;
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    public String safetensorsName() { return safetensorsName; }

    /** Bytes of one element; for the block-quantized types, bytes of one block. */
    public int byteSize() { return blockBytes; }

    /** Values per block: 1, or 32 for the block-quantized types. */
    public int blockSize() { return blockSize; }

    public boolean isQuantized() { return blockSize > 1; }

    /** Bytes that numel values take (numel must be a multiple of the block size). */
    public long bytesFor(long numel) {
        if (numel % blockSize != 0) throw new IllegalArgumentException(numel + " values are not whole " + this + " blocks of " + blockSize);
        return Math.multiplyExact(numel / blockSize, (long) blockBytes);
    }

    /** True for the row-interleaved layouts ({@link #Q4_0_R8}, {@link #Q8_0_R8}), a memory layout of their plain type. */
    public boolean isInterleaved() { return this == Q4_0_R8 || this == Q8_0_R8; }

    /** The plain block type of an interleaved layout (Q4_0_R8 → Q4_0, Q8_0_R8 → Q8_0); other types unchanged. */
    public DType plain() {
        return switch (this) {
            case Q4_0_R8 -> Q4_0;
            case Q8_0_R8 -> Q8_0;
            default -> this;
        };
    }

    /** The row-interleaved layout of a plain block type (Q4_0 → Q4_0_R8, Q8_0 → Q8_0_R8); null for others. */
    public DType interleaved() {
        return switch (this) {
            case Q4_0, Q4_0_R8 -> Q4_0_R8;
            case Q8_0, Q8_0_R8 -> Q8_0_R8;
            default -> null;
        };
    }

    public boolean isFloatingPoint() { return this == F64 || this == F32 || this == F16 || this == BF16; }

    /** A type that holds real-valued weights (wide floats or block-quantized). */
    public boolean isWeightType() { return isFloatingPoint() || isQuantized(); }

    /** Parses a safetensors dtype string; returns null when unknown (the caller names file and tensor). */
    public static DType fromSafetensors(String name) {
        if (name == null) return null;
        for (DType d : values()) {
            if (!d.isQuantized() && d.safetensorsName.equals(name.toUpperCase(Locale.ROOT))) return d;
        }
        return null;
    }
}
