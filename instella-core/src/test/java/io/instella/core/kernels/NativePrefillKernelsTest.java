package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The native in-place prefill kernels (int8 GEMM, small-prompt BF16 product) bit-identical to their Java twins, run
 * through the dispatch once per native build by the pom's native-* executions (and with the best build by default).
 */
class NativePrefillKernelsTest {
    @ParameterizedTest
    @CsvSource({"Q8_0, 37, 64, 1", "Q8_0, 8, 32, 2", "Q8_0, 16, 96, 3", "Q8_0, 130, 2048, 5", "Q8_0, 24, 256, 63",
            "Q8_0, 33, 96, 64", "Q8_0, 3, 8192, 65", "Q8_0, 40, 64, 70",
            "Q4_0, 37, 64, 1", "Q4_0, 9, 32, 4", "Q4_0, 130, 2048, 5", "Q4_0, 24, 256, 63", "Q4_0, 17, 96, 64",
            "Q4_0, 1, 8192, 65", "Q4_0, 40, 64, 70",
            "Q4_0_R8, 8, 64, 1", "Q4_0_R8, 24, 96, 7", "Q4_0_R8, 136, 2048, 64", "Q4_0_R8, 40, 256, 65", "Q4_0_R8, 16, 8192, 6",
            "Q8_0_R8, 8, 64, 1", "Q8_0_R8, 24, 96, 7", "Q8_0_R8, 136, 2048, 64", "Q8_0_R8, 40, 256, 65", "Q8_0_R8, 16, 8192, 6"})
    void int8GemmIsBitIdenticalToTheJavaLoops(DType type, int m, int k, int n) {
        NativeKernelsTest.requireNative();
        SplittableRandom r = new SplittableRandom(m * 31L + k + n);
        float[] w = PrefillKernelsTest.gaussian(r, m * k, 0.05), x = PrefillKernelsTest.gaussian(r, n * k + 5, 1);
        float[] bias = n % 2 == 1 ? PrefillKernelsTest.gaussian(r, m, 1) : null;
        try (Arena arena = Arena.ofShared()) {
            Tensor q = PrefillKernelsTest.quantized(type, w, m, k, arena);
            float[] nativeOut = new float[3 + n * m + 2], javaOut = new float[3 + n * m + 2];
            Int8Gemm.linear(x, 5, n, q, bias, nativeOut, 3, true);
            Int8Gemm.linear(x, 5, n, q, bias, javaOut, 3, false);
            assertThat(nativeOut).containsExactly(javaOut);
            for (int i : new int[]{0, 1, 2, 3 + n * m, 4 + n * m}) assertThat(nativeOut[i]).isZero();
        }
    }

    @ParameterizedTest
    @CsvSource({"37, 64, 1", "130, 2048, 5", "3, 2048, 4", "16, 100, 63", "1, 33, 64", "9, 7, 65", "40, 96, 70",
            "8, 8192, 6", "13, 48, 2", "5, 2080, 3"})
    void smallGemmIsBitIdenticalToTheJavaLoops(int m, int k, int n) {
        NativeKernelsTest.requireNative();
        assumeTrue(NativeKernels.smallGemmSupported(), "no native small-prompt kernel for " + Vectors.FLOAT.length() + " lanes");
        SplittableRandom r = new SplittableRandom(m * 7L + k + n);
        float[] w = PrefillKernelsTest.gaussian(r, m * k, 1), x = PrefillKernelsTest.gaussian(r, n * k + 2, 1);
        float[] bias = n % 2 == 0 ? PrefillKernelsTest.gaussian(r, m, 1) : null;
        Tensor t = PrefillKernelsTest.bf16(w, m, k);
        float[] nativeOut = new float[1 + n * m + 1], javaOut = new float[1 + n * m + 1];
        SmallGemm.linear(x, 2, n, t, bias, nativeOut, 1, true);
        SmallGemm.linear(x, 2, n, t, bias, javaOut, 1, false);
        assertThat(nativeOut).containsExactly(javaOut);
        assertThat(nativeOut[0]).isZero();
        assertThat(nativeOut[1 + n * m]).isZero();
    }
}
