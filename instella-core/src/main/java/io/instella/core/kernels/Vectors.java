package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float vector species every Java kernel uses: the machine's preferred one, or the width named by the system
 * property {@code instella.vector.bits} (64, 128, 256 or 512). Tests run the kernels at every width whatever the host
 * prefers (a 512-bit host must not hide a kernel that only works at 256 bits, nor the reverse); a width wider than the
 * hardware's is emulated by the JDK, correct but slow.
 */
public final class Vectors {
    /** The system property that forces a vector width in bits. */
    public static final String WIDTH_PROPERTY = "instella.vector.bits";

    public static final VectorSpecies<Float> FLOAT = floatSpecies(System.getProperty(WIDTH_PROPERTY));

    private Vectors() {}

    static VectorSpecies<Float> floatSpecies(String bits) {
        if (bits == null || bits.isBlank()) return FloatVector.SPECIES_PREFERRED;
        return switch (bits.strip()) {
            case "64" -> FloatVector.SPECIES_64;
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException("-D" + WIDTH_PROPERTY + "=" + bits
                    + ": expected 64, 128, 256 or 512 (bits of a float vector)");
        };
    }

    /** Bits of {@link #FLOAT}, e.g. 256 on AVX2. */
    public static int bits() {
        return FLOAT.vectorBitSize();
    }
}
