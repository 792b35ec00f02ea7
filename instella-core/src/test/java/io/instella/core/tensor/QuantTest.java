package io.instella.core.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The quantizers against blocks worked out by hand from llama.cpp's reference formulas. */
class QuantTest {

    private static byte[] block(DType type, float[] x) {
        MemorySegment seg = MemorySegment.ofArray(new byte[type.byteSize()]);
        Quant.quantizeRow(type, x, 0, 32, seg, 0);
        return seg.toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void q8BlockRoundsHalfAwayFromZeroWithScaleMaxOver127() {
        float[] x = new float[32];
        // max |x| = 127 makes d = 1.0 exactly (f16 0x3C00), so q = roundf(x).
        float[] head = {127f, 2.5f, -2.5f, 1.5f, -0.5f, 0.49f, -127f, 0.5f, 3.75f, -100.2f};
        System.arraycopy(head, 0, x, 0, head.length);
        byte[] b = block(DType.Q8_0, x);
        assertThat(b).hasSize(34);
        assertThat(b[0] & 0xFF).isEqualTo(0x00);
        assertThat(b[1] & 0xFF).isEqualTo(0x3C);
        byte[] expectedQ = {127, 3, -3, 2, -1, 0, -127, 1, 4, -100};
        for (int j = 0; j < expectedQ.length; j++) assertThat(b[2 + j]).as("q[%d]", j).isEqualTo(expectedQ[j]);
        for (int j = expectedQ.length; j < 32; j++) assertThat(b[2 + j]).isZero();
    }

    @Test
    void q8ScaleIsStoredAsF16AndQuantsUseTheUnroundedScale() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j - 16; // max |x| = 16, d = 16/127
        byte[] b = block(DType.Q8_0, x);
        short d16 = (short) ((b[0] & 0xFF) | (b[1] << 8));
        assertThat(d16).isEqualTo(Float.floatToFloat16(16f / 127f));
        assertThat(d16 & 0xFFFF).isEqualTo(0x3008); // 0.1259765625, the f16 nearest 0.12598...
        assertThat(b[2]).isEqualTo((byte) -127);
        assertThat(b[3]).isEqualTo((byte) -119); // -15 * 127/16 = -119.06
        assertThat(b[2 + 31]).isEqualTo((byte) 119);
    }

    @Test
    void q4BlockUsesSignedMaxOverMinus8AndPacksValuesJAndJPlus16() {
        float[] x = new float[32];
        // largest magnitude is -8 → d = -8 / -8 = 1.0, nibble = min(15, trunc(x + 8.5))
        x[0] = -8f;   // 0.5 → 0
        x[1] = 7f;    // 15.5 → 15
        x[2] = 7.4f;  // 15.9 → 15
        x[3] = -0.5f; // 8.0 → 8
        x[4] = 0.5f;  // 9.0 → 9
        x[5] = -3.2f; // 5.3 → 5
        x[16] = 2f;   // 10.5 → 10 (high nibble of byte 0)
        x[17] = -7.9f; // 0.6 → 0 (high nibble of byte 1)
        byte[] b = block(DType.Q4_0, x);
        assertThat(b).hasSize(18);
        assertThat((b[0] & 0xFF) | (b[1] & 0xFF) << 8).isEqualTo(0x3C00);
        assertThat(b[2] & 0xFF).isEqualTo(0 | 10 << 4);
        assertThat(b[3] & 0xFF).isEqualTo(15 | 0 << 4);
        assertThat(b[4] & 0xFF).isEqualTo(15 | 8 << 4);
        assertThat(b[5] & 0xFF).isEqualTo(8 | 8 << 4);
        assertThat(b[6] & 0xFF).isEqualTo(9 | 8 << 4);
        assertThat(b[7] & 0xFF).isEqualTo(5 | 8 << 4);
    }

    @Test
    void q4PositiveMaxGivesNegativeScaleAndClampsAt15() {
        float[] x = new float[32];
        x[0] = 8f;  // d = -1, id = -1: -8 + 8.5 → 0
        x[1] = -8f; // 16.5 → clamped to 15
        x[2] = 1f;  // 7.5 → 7
        byte[] b = block(DType.Q4_0, x);
        assertThat((b[0] & 0xFF) | (b[1] & 0xFF) << 8).isEqualTo(0xBC00); // f16 -1.0
        assertThat(b[2] & 0x0F).isEqualTo(0);
        assertThat(b[3] & 0x0F).isEqualTo(15);
        assertThat(b[4] & 0x0F).isEqualTo(7);
        assertThat((b[5] & 0x0F)).isEqualTo(8); // zeros sit at the offset
    }

    @Test
    void allZeroBlocksHaveZeroScale() {
        assertThat(block(DType.Q8_0, new float[32])).containsOnly(0);
        byte[] q4 = block(DType.Q4_0, new float[32]);
        // d = 0 / -8 is -0.0, f16 0x8000, exactly as ggml stores it
        assertThat(q4[0]).isZero();
        assertThat(q4[1] & 0xFF).isEqualTo(0x80);
        for (int j = 2; j < 18; j++) assertThat(q4[j] & 0xFF).isEqualTo(0x88);
    }

    @Test
    void dequantizationErrorIsBoundedByOneStep() {
        SplittableRandom r = new SplittableRandom(7);
        int m = 3, k = 96;
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        Tensor t = Tensor.ofFloats("w", w, m, k);
        try (Arena arena = Arena.ofShared()) {
            for (DType type : new DType[]{DType.Q8_0, DType.Q4_0}) {
                Tensor q = Quant.quantize(t, type, arena);
                assertThat(q.byteSize()).isEqualTo((long) m * k / 32 * type.byteSize());
                float[] back = q.toFloatArray();
                for (int b = 0; b < m * k / 32; b++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(w[32 * b + j]));
                    // Q8_0 rounds to the nearest of ±127 steps; Q4_0 has 8 steps below zero and only 7 above,
                    // so values opposite the block's extreme may clamp by up to one step. Quants use the unrounded
                    // d but dequantization the f16 d (relative error ≤ 2^-11), adding |q|·d·2^-11.
                    float bound = type == DType.Q8_0 ? amax / 127 * (0.5f + 127f / 2048f) * 1.0001f
                            : amax / 8 * (1f + 8f / 2048f) * 1.0001f;
                    for (int j = 0; j < 32; j++) {
                        assertThat(Math.abs(back[32 * b + j] - w[32 * b + j])).isLessThanOrEqualTo(bound);
                        assertThat(q.getFloat(32L * b + j)).isEqualTo(back[32 * b + j]);
                    }
                }
            }
        }
    }

    @Test
    void vectorQuantizerIsBitIdenticalToTheScalarReference() {
        SplittableRandom r = new SplittableRandom(11);
        int n = 32 * 200;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (i / 32 % 5) {
                case 0 -> (float) r.nextGaussian();
                case 1 -> (float) (r.nextInt(-16, 17) * 0.5); // exact halves after scaling, repeated maxima
                case 2 -> i % 32 == 3 ? -4f : i % 32 == 9 ? 4f : 0.25f; // ties of +max and -max: the first wins
                case 3 -> 0f;
                default -> (float) (r.nextGaussian() * 1e-30); // tiny scales
            };
        }
        for (DType type : new DType[]{DType.Q8_0, DType.Q4_0}) {
            MemorySegment fast = MemorySegment.ofArray(new byte[(int) type.bytesFor(n)]);
            MemorySegment ref = MemorySegment.ofArray(new byte[(int) type.bytesFor(n)]);
            Quant.quantizeRow(type, x, 0, n, fast, 0);
            Quant.quantizeRowScalar(type, x, 0, n, ref, 0);
            assertThat(fast.toArray(ValueLayout.JAVA_BYTE)).as(type.name()).isEqualTo(ref.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void kernelDequantizationEqualsTheReference() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[32 * 40];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        var widen = Class.forName("io.instella.core.kernels.Packing").getDeclaredMethod("widen",
                MemorySegment.class, DType.class, int.class, long.class, float[].class, int.class, int.class);
        widen.setAccessible(true);
        for (DType type : new DType[]{DType.Q8_0, DType.Q4_0}) {
            MemorySegment seg = MemorySegment.ofArray(new byte[(int) type.bytesFor(x.length)]);
            Quant.quantizeRow(type, x, 0, x.length, seg, 0);
            float[] ref = new float[x.length - 64], got = new float[x.length - 64];
            Quant.dequantize(type, seg, 64, ref, 0, ref.length);
            widen.invoke(null, seg, type, x.length, 64L, got, 0, got.length);
            assertThat(got).as(type.name()).containsExactly(ref);
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q4_0", "Q8_0"})
    void repackToEightRowInterleavingIsTheReferencePermutation(DType type) {
        SplittableRandom r = new SplittableRandom(11);
        int m = 24, k = 96, blockBytes = type.byteSize();
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Quant.quantize(Tensor.ofFloats("w", w, m, k), type, arena);
            Tensor r8 = Quant.repackR8(q, arena); // the native copy where the native kernels run
            assertThat(r8.dtype()).isEqualTo(type.interleaved());
            MemorySegment ref = arena.allocate(q.byteSize());
            Quant.repackJava(type, q.data(), ref, m / 8, k / 32);
            assertThat(r8.data().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(ref.toArray(ValueLayout.JAVA_BYTE));
            assertThat(r8.toFloatArray()).containsExactly(q.toFloatArray());
            Tensor back = Quant.unpackR8(r8, arena);
            assertThat(back.dtype()).isEqualTo(type);
            assertThat(back.data().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(q.data().toArray(ValueLayout.JAVA_BYTE));
            // Group 1, block 2, row 3: its scale, then its quant bytes in 4-byte pieces, one per chunk.
            long in = ((8 + 3) * 3 + 2) * (long) blockBytes, out = (1 * 3 + 2) * 8L * blockBytes;
            assertThat(ref.get(ValueLayout.JAVA_SHORT_UNALIGNED, out + 6)).isEqualTo(q.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, in));
            for (int c = 0; c < (blockBytes - 2) / 4; c++) {
                assertThat(ref.get(ValueLayout.JAVA_INT_UNALIGNED, out + 16 + 32 * c + 12))
                        .isEqualTo(q.data().get(ValueLayout.JAVA_INT_UNALIGNED, in + 2 + 4 * c));
            }
        }
    }

    @Test
    void rowsMustBeWholeBlocks() {
        Tensor t = Tensor.ofFloats("odd", new float[40], 1, 40);
        try (Arena arena = Arena.ofShared()) {
            assertThatThrownBy(() -> Quant.quantize(t, DType.Q8_0, arena))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("blocks of 32");
        }
    }
}
