package io.instella.core.kernels;

import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Java twins of the in-place prefill kernels ({@link Int8Gemm}, {@link SmallGemm}) against independent scalar
 * statements of what they compute (bit for bit) and against the double-precision product; run at 128, 256 and 512
 * bits by the pom's kernels-at-* executions. Row counts cover 1, the tile edges (4, 5), 63, 64, 65 and 70; depths
 * cover k not a multiple of the vector chunk, and odd weight row counts.
 */
class PrefillKernelsTest {
    static float[] gaussian(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    static Tensor quantized(DType type, float[] w, int m, int k, Arena arena) {
        Tensor f = Tensor.ofFloats("w", w, m, k);
        return type.isInterleaved() ? Quant.repackR8(Quant.quantize(f, type.plain(), arena), arena) : Quant.quantize(f, type, arena);
    }

    /** The int8 GEMM's definition, one output at a time: exact integer block sums, one fma chain in block order. */
    static float[] int8Reference(Tensor w, float[] x, int xOff, int n, float[] bias) {
        int m = (int) w.dim(0), k = (int) w.dim(1), blocks = k / 32;
        Gemv.QuantizedActivations qa = Gemv.QuantizedActivations.of(x, xOff, n, k);
        short[] xq = qa.q.clone();
        float[] xd = qa.d.clone();
        float[] wf = w.toFloatArray();
        float[] out = new float[n * m];
        short[] row = new short[k];
        float[] dw = new float[blocks];
        for (int j = 0; j < m; j++) {
            Int8Gemm.unpackRow(w.data(), w.dtype(), k, j, row, dw);
            for (int t = 0; t < k; t++) assertThat(row[t] * dw[t / 32]).isEqualTo(wf[j * k + t]); // the unpacking itself
            for (int i = 0; i < n; i++) {
                float acc = 0f;
                for (int b = 0; b < blocks; b++) {
                    int isum = 0;
                    for (int t = 0; t < 32; t++) isum += row[32 * b + t] * xq[i * k + 32 * b + t];
                    acc = Math.fma((float) isum, dw[b] * xd[i * blocks + b], acc);
                }
                out[i * m + j] = bias == null ? acc : acc + bias[j];
            }
        }
        return out;
    }

    static void assertCloseToProduct(float[] got, int gotOff, float[] w, float[] x, int xOff, int n, int m, int k, float[] bias,
                                     double relative) {
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double exact = bias == null ? 0 : bias[j], scale = 0;
                for (int t = 0; t < k; t++) {
                    exact += (double) w[j * k + t] * x[xOff + i * k + t];
                    scale += Math.abs((double) w[j * k + t] * x[xOff + i * k + t]);
                }
                assertThat((double) got[gotOff + i * m + j]).as("row %d column %d", i, j)
                        .isCloseTo(exact, org.assertj.core.data.Offset.offset(relative * scale + 1e-4));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"Q8_0, 37, 64, 1", "Q8_0, 16, 96, 5", "Q8_0, 24, 32, 63", "Q8_0, 40, 256, 64", "Q8_0, 3, 64, 65",
            "Q4_0, 37, 64, 1", "Q4_0, 17, 96, 4", "Q4_0, 24, 32, 63", "Q4_0, 40, 256, 70", "Q4_0, 1, 64, 65",
            "Q4_0_R8, 8, 64, 1", "Q4_0_R8, 24, 96, 6", "Q4_0_R8, 40, 256, 64", "Q4_0_R8, 16, 32, 65",
            "Q8_0_R8, 8, 64, 1", "Q8_0_R8, 24, 96, 6", "Q8_0_R8, 40, 256, 64", "Q8_0_R8, 16, 32, 65"})
    void int8GemmJavaLoopsComputeTheDefinition(DType type, int m, int k, int n) {
        SplittableRandom r = new SplittableRandom(m * 131L + k * 7L + n);
        float[] w = gaussian(r, m * k, 0.05), x = gaussian(r, n * k + 3, 1), bias = n % 2 == 1 ? gaussian(r, m, 1) : null;
        try (Arena arena = Arena.ofShared()) {
            Tensor q = quantized(type, w, m, k, arena);
            float[] out = new float[2 + n * m];
            Int8Gemm.linear(x, 3, n, q, bias, out, 2, false);
            float[] expected = int8Reference(q, x, 3, n, bias);
            for (int i = 0; i < n * m; i++) assertThat(out[2 + i]).as("output %d", i).isEqualTo(expected[i]);
            assertThat(out[0]).isZero();
            assertThat(out[1]).isZero();
            // Against the dequantized weights: int8 activations cost about 0.4% of each product's magnitude at worst.
            assertCloseToProduct(out, 2, q.toFloatArray(), x, 3, n, m, k, bias, 0.01);
        }
    }

    /** The SmallGemm definition, lane by lane (L lanes), one output at a time. */
    static float[] smallReference(float[] wBf16AsFloat, float[] x, int xOff, int n, int m, int k, float[] bias, int lanes) {
        float[] out = new float[n * m];
        int chunk = 2 * lanes, bound = k - k % chunk;
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < n; i++) {
                float[] acc = new float[lanes];
                int xo = xOff + i * k;
                for (int c = 0; c < bound; c += chunk) {
                    for (int l = 0; l < lanes; l++) {
                        acc[l] = Math.fma(wBf16AsFloat[j * k + c + 2 * l], x[xo + c + 2 * l], acc[l]);
                        acc[l] = Math.fma(wBf16AsFloat[j * k + c + 2 * l + 1], x[xo + c + 2 * l + 1], acc[l]);
                    }
                }
                float s = 0f;
                for (int l = 0; l < lanes; l++) s += acc[l];
                for (int t = bound; t < k; t++) s = Math.fma(x[xo + t], wBf16AsFloat[j * k + t], s);
                out[i * m + j] = s + (bias == null ? 0f : bias[j]);
            }
        }
        return out;
    }

    static Tensor bf16(float[] w, int m, int k) {
        return new Tensor("w", DType.BF16, new long[]{m, k}, SafeTensorsWriter.toBf16(w));
    }

    @ParameterizedTest
    @CsvSource({"37, 64, 1", "3, 2048, 5", "16, 100, 63", "1, 33, 64", "9, 7, 65", "40, 96, 70", "5, 64, 4"})
    void smallGemmJavaLoopsComputeTheDefinition(int m, int k, int n) {
        SplittableRandom r = new SplittableRandom(m * 17L + k * 5L + n);
        float[] w = gaussian(r, m * k, 1), x = gaussian(r, n * k + 1, 1), bias = n % 2 == 0 ? gaussian(r, m, 1) : null;
        Tensor t = bf16(w, m, k);
        float[] wb = t.toFloatArray();
        float[] out = new float[3 + n * m];
        SmallGemm.linear(x, 1, n, t, bias, out, 3, false);
        float[] expected = smallReference(wb, x, 1, n, m, k, bias, Vectors.FLOAT.length());
        for (int i = 0; i < n * m; i++) assertThat(out[3 + i]).as("output %d", i).isEqualTo(expected[i]);
        assertCloseToProduct(out, 3, wb, x, 1, n, m, k, bias, 1e-5);
    }

    /**
     * The activation quantizer (shared with decode) against llama.cpp's quantize_row_q8_0 written out scalar, for a
     * decode-sized input (one thread) and a prefill-sized one (blocks split between threads), with zero blocks.
     */
    @ParameterizedTest
    @CsvSource({"1, 2048", "70, 1024", "3, 96"})
    void activationQuantizerIsLlamaCppsQ8_0(int n, int k) {
        SplittableRandom r = new SplittableRandom(n + k);
        float[] x = gaussian(r, n * k + 7, 3);
        java.util.Arrays.fill(x, 7 + 32, 7 + 64, 0f);
        x[7 + 70] = -0.0f;
        Gemv.QuantizedActivations qa = Gemv.QuantizedActivations.of(x, 7, n, k);
        for (int b = 0; b < n * k / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[7 + 32 * b + j]));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                float v = x[7 + 32 * b + j] * id;
                int q = (int) (Math.abs(v) + 0.5f);
                if (v < 0) q = -q;
                sum += q;
                assertThat(qa.q[32 * b + j]).as("block %d value %d", b, j).isEqualTo((short) q);
                assertThat(qa.q8[32 * b + j]).isEqualTo((byte) q);
            }
            assertThat(qa.d[b]).isEqualTo(d);
            assertThat(qa.sums[b]).isEqualTo(sum);
            assertThat(qa.c8[b]).isEqualTo(8f * sum);
        }
    }

    /** Work is split by weight rows; each output's chain does not depend on the split, so not on the thread count. */
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        SplittableRandom r = new SplittableRandom(99);
        int m = 72, k = 128, n = 33;
        float[] w = gaussian(r, m * k, 0.05), x = gaussian(r, n * k, 1);
        int before = Parallel.threads();
        try (Arena arena = Arena.ofShared()) {
            Tensor q8 = quantized(DType.Q8_0, w, m, k, arena), b = bf16(w, m, k);
            float[][] int8 = new float[3][n * m], small = new float[3][n * m], nat = new float[3][n * m];
            for (int threads = 1; threads <= 3; threads++) {
                Parallel.setThreads(threads);
                Int8Gemm.linear(x, 0, n, q8, null, int8[threads - 1], 0, false);
                SmallGemm.linear(x, 0, n, b, null, small[threads - 1], 0, false);
                MatMul.linear(x, 0, n, q8, null, nat[threads - 1], 0);
            }
            for (int i = 1; i < 3; i++) {
                assertThat(int8[i]).containsExactly(int8[0]);
                assertThat(small[i]).containsExactly(small[0]);
                assertThat(nat[i]).containsExactly(nat[0]);
            }
        } finally {
            Parallel.setThreads(before);
        }
    }

    /** Every row count from 1 to 70 through MatMul's routing (Gemv, the small-prompt kernel, the int8 GEMM or Gemm). */
    @Test
    void matMulIsTheProductAtEveryRowCount() {
        SplittableRandom r = new SplittableRandom(5);
        int m = 19, k = 96;
        float[] w = gaussian(r, m * k, 0.05), x = gaussian(r, 70 * k, 1), bias = gaussian(r, m, 1);
        try (Arena arena = Arena.ofShared()) {
            Tensor b = bf16(w, m, k), q8 = quantized(DType.Q8_0, w, m, k, arena), q4 = quantized(DType.Q4_0, w, m, k, arena);
            float[] wb = b.toFloatArray(), w8 = q8.toFloatArray(), w4 = q4.toFloatArray();
            for (int n = 1; n <= 70; n++) {
                float[] out = new float[n * m];
                MatMul.linear(x, 0, n, b, bias, out, 0);
                assertCloseToProduct(out, 0, wb, x, 0, n, m, k, bias, 1e-5);
                MatMul.linear(x, 0, n, q8, bias, out, 0);
                assertCloseToProduct(out, 0, w8, x, 0, n, m, k, bias, 0.01);
                MatMul.linear(x, 0, n, q4, bias, out, 0);
                assertCloseToProduct(out, 0, w4, x, 0, n, m, k, bias, 0.01);
            }
        }
    }
}
