package io.instella.core.tensor;

import java.util.Locale;

/** Element types, named as in the safetensors header. Q8_0/Q4_0 are llama.cpp's block-32 quantized layouts. */
public enum DType {
    F64("F64", 8), F32("F32", 4), F16("F16", 2), BF16("BF16", 2),
    I64("I64", 8), I32("I32", 4), I16("I16", 2), I8("I8", 1), U8("U8", 1), BOOL("BOOL", 1);

    private final String safetensorsName;
    private final int byteSize;

    DType(String safetensorsName, int byteSize) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
    }

    public String safetensorsName() { return safetensorsName; }

    public int byteSize() { return byteSize; }

    public boolean isFloatingPoint() { return this == F64 || this == F32 || this == F16 || this == BF16; }

    /** Parses a safetensors dtype string; returns null when unknown (the caller names file and tensor). */
    public static DType fromSafetensors(String name) {
        if (name == null) return null;
        for (DType d : values()) {
            if (d.safetensorsName.equals(name.toUpperCase(Locale.ROOT))) return d;
        }
        return null;
    }
}
