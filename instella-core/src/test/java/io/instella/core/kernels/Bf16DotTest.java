package io.instella.core.kernels;

import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The opt-in BF16 compute path ({@link Bf16Dot}): torch's rounding of float to BF16 (scalar and vector, at every
 * forced vector width), the Java emulation, and the native vdpbf16ps GEMV and GEMM against the exact product of the
 * rounded activations and the weights, where the CPU has AVX-512 BF16.
 */
class Bf16DotTest {
    /** On a CPU with avx512_bf16 and an AVX-512 native build in use (CI on such a machine) the native path must run. */
    static void requireNative() {
        boolean expected = NativeKernels.available() && NativeKernels.status().startsWith("native-avx512") && cpuHas("avx512_bf16");
        if (expected && !Bf16Dot.nativeAvailable()) {
            throw new AssertionError("vdpbf16ps kernels expected but not in use: " + NativeKernels.bf16DotUnavailableReason());
        }
        assumeTrue(Bf16Dot.nativeAvailable(), "BF16 compute kernels not available here: " + NativeKernels.bf16DotUnavailableReason());
    }

    private static boolean cpuHas(String flag) {
        try {
            return Files.readString(Path.of("/proc/cpuinfo")).lines().filter(l -> l.startsWith("flags")).findFirst()
                    .map(l -> (l + " ").contains(" " + flag + " ")).orElse(false);
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void roundsToNearestEvenAsTorchDoes() {
        assertThat(Bf16Dot.roundToBf16(1.0f)).isEqualTo((short) 0x3F80);
        assertThat(Bf16Dot.roundToBf16(-2.0f)).isEqualTo((short) 0xC000);
        // Halfway cases go to the even neighbour; anything above half rounds up.
        assertThat(Bf16Dot.roundToBf16(Float.intBitsToFloat(0x3F808000))).isEqualTo((short) 0x3F80);
        assertThat(Bf16Dot.roundToBf16(Float.intBitsToFloat(0x3F818000))).isEqualTo((short) 0x3F82);
        assertThat(Bf16Dot.roundToBf16(Float.intBitsToFloat(0x3F808001))).isEqualTo((short) 0x3F81);
        assertThat(Bf16Dot.roundToBf16(Float.intBitsToFloat(0x3F807FFF))).isEqualTo((short) 0x3F80);
        assertThat(Bf16Dot.roundToBf16(Float.NaN)).isEqualTo((short) 0x7FC0);
        assertThat(Bf16Dot.roundToBf16(Float.POSITIVE_INFINITY)).isEqualTo((short) 0x7F80);
        assertThat(Bf16Dot.roundToBf16(Float.MAX_VALUE)).isEqualTo((short) 0x7F80); // as torch: overflows to infinity
        assertThat(Bf16Dot.roundToBf16(-0.0f)).isEqualTo((short) 0x8000);
        assertThat(Bf16Dot.roundToBf16(Float.MIN_VALUE)).isEqualTo((short) 0x0000); // subnormal below half an ulp
    }

    @Test
    void vectorRoundingEqualsTheScalarOneAtThisWidth() {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[3 + 1037];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 11) {
                case 0 -> Float.NaN;
                case 1 -> Float.intBitsToFloat((r.nextInt() & 0xFFFF0000) | 0x8000); // ties
                case 2 -> Float.NEGATIVE_INFINITY;
                case 3 -> Float.intBitsToFloat(r.nextInt()); // any bit pattern
                default -> (float) r.nextGaussian() * 10;
            };
        }
        short[] bits = Bf16Dot.roundedBits(x, 3, 1037).clone();
        float[] floats = Bf16Dot.roundedFloats(x, 3, 1037).clone();
        for (int i = 0; i < 1037; i++) {
            short want = Bf16Dot.roundToBf16(x[3 + i]);
            assertThat(bits[i]).as("value %d (%s)", i, x[3 + i]).isEqualTo(want);
            assertThat(Float.floatToRawIntBits(floats[i])).as("value %d", i).isEqualTo(want << 16);
        }
    }

    private static Tensor bf16(String name, float[] w, int m, int k) {
        return new Tensor(name, DType.BF16, new long[]{m, k}, SafeTensorsWriter.toBf16(w));
    }

    /** Σ round(x)·W in double (W's BF16 values) and Σ |round(x)·W|, for row j and token i. */
    private static double[] exact(Tensor w, float[] x, int xOff, int i, int j, int k) {
        float[] row = new float[k];
        Packing.widen(w.data(), DType.BF16, k, (long) j * k, row, 0, k);
        double sum = 0, scale = 0;
        for (int t = 0; t < k; t++) {
            double xr = Float.intBitsToFloat(Bf16Dot.roundToBf16(x[xOff + i * k + t]) << 16);
            sum += xr * row[t];
            scale += Math.abs(xr * row[t]);
        }
        return new double[]{sum, scale};
    }

    private record Case(Tensor w, float[] x, float[] bias) {}

    private static Case randomCase(int m, int k, int n, boolean withBias) {
        SplittableRandom r = new SplittableRandom(m * 131L + k * 7L + n);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        float[] x = new float[5 + n * k];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] bias = withBias ? new float[m] : null;
        if (bias != null) for (int j = 0; j < m; j++) bias[j] = (float) r.nextGaussian();
        return new Case(bf16("w", w, m, k), x, bias);
    }

    private static void assertExact(Case c, int m, int k, int n, float[] out, int outOff, String what) {
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double[] e = exact(c.w, c.x, 5, i, j, k);
                double want = e[0] + (c.bias == null ? 0 : c.bias[j]);
                assertThat((double) out[outOff + i * m + j]).as("%s token %d row %d", what, i, j)
                        .isCloseTo(want, offset(2e-6 * e[1] + 1e-6));
            }
        }
    }

    /** The emulation (any CPU, any vector width): the float kernels on rounded activations, both the GEMV and the GEMM. */
    @ParameterizedTest
    @CsvSource({"37, 64, 1, true", "20, 96, 3, false", "45, 130, 7, true", "33, 512, 13, false"})
    void emulationIsTheExactProductOfTheRoundedActivations(int m, int k, int n, boolean withBias) {
        Case c = randomCase(m, k, n, withBias);
        float[] out = new float[2 + n * m];
        Bf16Dot.linearJava(c.x, 5, n, c.w, c.bias, out, 2);
        assertExact(c, m, k, n, out, 2, "java");
        assertThat(out[0]).isZero();
        assertThat(out[1]).isZero();
    }

    /**
     * vdpbf16ps GEMV (n ≤ 4) and GEMM (more rows): full and partial 32-column panels, 6-row tiles and leftover rows,
     * depth tails (kc not a multiple of 16 pairs, several slabs), with and without bias.
     */
    @ParameterizedTest
    @CsvSource({"37, 64, 1, true", "130, 2048, 1, false", "64, 192, 4, true", "8, 8192, 2, false",
            "37, 64, 5, true", "100, 300, 6, false", "130, 520, 53, true", "32, 2, 7, false", "257, 1024, 13, true",
            "1, 34, 100, false"})
    void nativeKernelsAreTheExactProductOfTheRoundedActivations(int m, int k, int n, boolean withBias) {
        requireNative();
        Case c = randomCase(m, k, n, withBias);
        float[] out = new float[3 + n * m];
        Bf16Dot.linearNative(c.x, 5, n, c.w, c.bias, out, 3);
        assertExact(c, m, k, n, out, 3, "native");
        assertThat(out[0]).isZero();
        assertThat(out[2]).isZero();
        float[] java = new float[n * m];
        Bf16Dot.linearJava(c.x, 5, n, c.w, c.bias, java, 0);
        for (int i = 0; i < n * m; i++) assertThat(out[3 + i]).isCloseTo(java[i], offset(1e-4f * (1 + Math.abs(java[i]))));
    }

    @Test
    void matMulTakesThePathOnlyWhenEnabledAndOnlyForTheGemm() {
        // More rows than the small-prompt kernel takes (MatMul.SMALL_MAX_ROWS): the default route is the packed GEMM.
        int n = MatMul.SMALL_MAX_ROWS + 4;
        Case a = randomCase(48, 128, n, true);
        boolean before = Bf16Dot.enabled();
        try {
            Bf16Dot.setEnabled(false);
            float[] plain = new float[n * 48];
            MatMul.linear(a.x, 5, n, a.w, a.bias, plain, 0);
            float[] reference = new float[n * 48];
            Gemm.linear(a.x, 5, n, a.w, a.bias, reference, 0);
            assertThat(plain).containsExactly(reference);

            Bf16Dot.setEnabled(true);
            float[] viaMatMul = new float[n * 48];
            MatMul.linear(a.x, 5, n, a.w, a.bias, viaMatMul, 0);
            float[] direct = new float[n * 48];
            Bf16Dot.linear(a.x, 5, n, a.w, a.bias, direct, 0);
            assertThat(viaMatMul).containsExactly(direct);
            assertExact(a, 48, 128, n, viaMatMul, 0, "enabled");

            // Decode rows keep the float kernels and their float activations, single and grouped.
            float[] one = new float[48], oneDefault = new float[48];
            MatMul.linear(a.x, 5, 1, a.w, a.bias, one, 0);
            Gemv.linear(a.x, 5, 1, a.w, a.bias, oneDefault, 0);
            assertThat(one).containsExactly(oneDefault);
            float[][] outs = {new float[48], new float[48]};
            MatMul.linear(a.x, 5, 1, new Tensor[]{a.w, a.w}, new float[][]{a.bias, null}, outs);
            assertThat(outs[0]).containsExactly(oneDefault);
            assertThat(Bf16Dot.status()).matches("native-avx512bf16|java \\(.+\\)");
        } finally {
            Bf16Dot.setEnabled(before);
        }
        if (!before) assertThat(Bf16Dot.status()).isEqualTo("off");
    }
}
