package io.instella.core.kernels;

import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Kernels against straightforward double-precision references. */
class KernelsTest {

    @ParameterizedTest
    @CsvSource({"1,1,1", "1,37,13", "3,64,128", "5,129,31", "17,8,300", "64,96,2048"})
    void linearMatchesReferenceForEveryWeightType(int n, int m, int k) {
        SplittableRandom r = new SplittableRandom(n * 31L + m * 7L + k);
        float[] x = rand(r, n * k), w = rand(r, m * k), bias = rand(r, m);
        for (DType dt : new DType[]{DType.F32, DType.BF16, DType.F16}) {
            Tensor wt = switch (dt) {
                case F32 -> new Tensor("w", dt, new long[]{m, k}, SafeTensorsWriter.toF32(w));
                case BF16 -> new Tensor("w", dt, new long[]{m, k}, SafeTensorsWriter.toBf16(w));
                default -> new Tensor("w", dt, new long[]{m, k}, SafeTensorsWriter.toF16(w));
            };
            float[] wq = wt.toFloatArray(); // the values the kernel should see after widening
            float[] out = new float[n * m];
            MatMul.linear(x, n, wt, bias, out);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < m; j++) {
                    double ref = bias[j];
                    for (int t = 0; t < k; t++) ref += (double) x[i * k + t] * wq[j * k + t];
                    assertThat(out[i * m + j]).as("%s out[%d,%d]", dt, i, j).isCloseTo((float) ref, within(1e-4f * (float) Math.sqrt(k)));
                }
            }
        }
    }

    /**
     * Several matrices read by the same x (q/k/v, gate/up) in one call give exactly what one call per matrix gives:
     * the same kernels over the same rows, only one parallel pass; mixed types or widths fall back to one call each.
     */
    @ParameterizedTest
    @CsvSource({"1,64", "2,96", "4,2048", "6,64"})
    void severalMatricesInOneCallEqualOneCallEach(int n, int k) {
        SplittableRandom r = new SplittableRandom(n * 7L + k);
        float[] x = rand(r, n * k);
        int[] rows = {40, 16, 24};
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            for (DType dt : new DType[]{DType.F32, DType.BF16, DType.F16, DType.Q8_0, DType.Q4_0, DType.Q4_0_R8, DType.Q8_0_R8}) {
                Tensor[] ws = new Tensor[rows.length];
                float[][] biases = new float[rows.length][], outs = new float[rows.length][];
                for (int i = 0; i < rows.length; i++) {
                    Tensor f = Tensor.ofFloats("w" + i, rand(r, rows[i] * k), rows[i], k);
                    ws[i] = switch (dt) {
                        case F32 -> f;
                        case BF16 -> new Tensor("w" + i, dt, new long[]{rows[i], k}, SafeTensorsWriter.toBf16(f.toFloatArray()));
                        case F16 -> new Tensor("w" + i, dt, new long[]{rows[i], k}, SafeTensorsWriter.toF16(f.toFloatArray()));
                        case Q4_0_R8, Q8_0_R8 -> io.instella.core.tensor.Quant.repackR8(io.instella.core.tensor.Quant.quantize(f, dt.plain(), arena), arena);
                        default -> io.instella.core.tensor.Quant.quantize(f, dt, arena);
                    };
                    biases[i] = i == 1 ? null : rand(r, rows[i]);
                    outs[i] = new float[n * rows[i]];
                }
                MatMul.linear(x, 0, n, ws, biases, outs);
                for (int i = 0; i < rows.length; i++) {
                    float[] one = new float[n * rows[i]];
                    MatMul.linear(x, 0, n, ws[i], biases[i], one, 0);
                    assertThat(outs[i]).as("%s matrix %d", dt, i).containsExactly(one);
                }
            }
            // Mixed weight types run one call each, with the same results.
            Tensor a = Tensor.ofFloats("a", rand(r, 8 * k), 8, k);
            Tensor b = io.instella.core.tensor.Quant.quantize(Tensor.ofFloats("b", rand(r, 8 * k), 8, k), DType.Q8_0, arena);
            float[] oa = new float[n * 8], ob = new float[n * 8], ea = new float[n * 8], eb = new float[n * 8];
            MatMul.linear(x, 0, n, new Tensor[]{a, b}, null, new float[][]{oa, ob});
            MatMul.linear(x, 0, n, a, null, ea, 0);
            MatMul.linear(x, 0, n, b, null, eb, 0);
            assertThat(oa).containsExactly(ea);
            assertThat(ob).containsExactly(eb);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,1,32", "1,37,64", "2,5,96", "4,33,2048", "5,17,64", "7,40,288", "13,130,512"})
    void quantizedLinearMatchesDequantizedReference(int n, int m, int k) {
        SplittableRandom r = new SplittableRandom(n * 131L + m * 17L + k);
        float[] x = rand(r, n * k), w = rand(r, m * k), bias = rand(r, m);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            for (DType dt : new DType[]{DType.Q8_0, DType.Q4_0}) {
                Tensor wt = io.instella.core.tensor.Quant.quantize(Tensor.ofFloats("w", w, m, k), dt, arena);
                float[] wq = wt.toFloatArray();
                float[] out = new float[n * m];
                MatMul.linear(x, n, wt, bias, out);
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < m; j++) {
                        double ref = bias[j], mag = 0;
                        for (int t = 0; t < k; t++) {
                            ref += (double) x[i * k + t] * wq[j * k + t];
                            mag += Math.abs((double) x[i * k + t] * wq[j * k + t]);
                        }
                        // Decode, and prefill's int8 GEMM where the native kernels run, quantize activations to int8 (as
                        // llama.cpp does): error ~ 1/254 of the magnitudes. The packed float GEMM keeps float activations.
                        boolean int8 = n <= MatMul.GEMV_MAX_ROWS || MatMul.IN_PLACE_PREFILL && NativeKernels.int8GemmAvailable();
                        double tol = int8 ? 0.01 * mag + 1e-4 : 1e-4 * Math.sqrt(k) + 1e-5 * mag;
                        assertThat((double) out[i * m + j]).as("%s n=%d out[%d,%d]", dt, n, i, j).isCloseTo(ref, within(tol));
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1,0,true,2,2,8", "9,0,true,4,2,16", "40,0,true,2,1,64", "37,100,true,2,2,32", "70,5,false,3,3,64", "200,0,false,1,1,8",
            "101,0,false,2,1,64", "53,60,true,4,2,40"})
    void blockedAttentionMatchesRowByRowAttention(int n, int start, boolean causal, int heads, int kvHeads, int hd) {
        SplittableRandom r = new SplittableRandom(n * 7L + start + hd);
        int kvLen = causal ? start + n : n + start;
        int qStride = heads * hd + 3, kvStride = kvHeads * hd + 5, outStride = heads * hd + 1;
        float[] q = rand(r, n * qStride + 2), k = rand(r, kvLen * kvStride + 4), v = rand(r, kvLen * kvStride + 4);
        for (int i = 0; i < q.length; i++) q[i] *= 3; // peaky softmax rows
        float scale = (float) (1 / Math.sqrt(hd));
        float[] out = new float[n * outStride + 1], ref = new float[n * outStride + 1];
        BlockedAttention.attention(q, 2, qStride, k, v, 4, kvStride, kvLen, n, start, causal, heads, kvHeads, hd, scale,
                out, 1, outStride);
        int group = heads / kvHeads;
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < heads; h++) {
                int len = causal ? start + i + 1 : kvLen;
                Attention.attendRow(q, 2 + i * qStride + h * hd, k, v, 4 + (h / group) * hd, kvStride, len, hd, scale,
                        ref, 1 + i * outStride + h * hd);
            }
        }
        for (int i = 0; i < out.length; i++) assertThat(out[i]).as("out[%d]", i).isCloseTo(ref[i], within(2e-5f));
    }

    /** Head-major keys/values (a KV cache's layout), stored as floats and as halves, against row-by-row attention. */
    @ParameterizedTest
    @CsvSource({"9,0,4,2,16,20", "40,3,2,1,64,50", "70,100,4,4,32,180"})
    void blockedAttentionReadsHeadMajorAndHalfFloatCaches(int n, int start, int heads, int kvHeads, int hd, int capacity) {
        SplittableRandom r = new SplittableRandom(n * 5L + start + hd);
        int kvLen = start + n, headStride = capacity * hd, qStride = heads * hd;
        float[] q = rand(r, n * qStride), k = rand(r, kvHeads * headStride + 3), v = rand(r, kvHeads * headStride + 3);
        short[] k16 = new short[k.length], v16 = new short[v.length];
        Packing.narrowF16(k, 0, k16, 0, k.length);
        Packing.narrowF16(v, 0, v16, 0, v.length);
        Packing.widenF16(k16, 0, k, 0, k.length); // the same values on both paths
        Packing.widenF16(v16, 0, v, 0, v.length);
        float scale = (float) (1 / Math.sqrt(hd));
        float[] out32 = new float[n * qStride], out16 = new float[n * qStride], ref = new float[n * qStride];
        BlockedAttention.attention(q, 0, qStride, k, v, 3, hd, headStride, kvLen, n, start, true, heads, kvHeads, hd, scale, out32, 0, qStride);
        BlockedAttention.attention(q, 0, qStride, k16, v16, 3, hd, headStride, kvLen, n, start, true, heads, kvHeads, hd, scale, out16, 0, qStride);
        int group = heads / kvHeads;
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < heads; h++) {
                Attention.attendRow(q, i * qStride + h * hd, k, v, 3 + (h / group) * headStride, hd, start + i + 1, hd, scale,
                        ref, i * qStride + h * hd);
            }
        }
        for (int i = 0; i < ref.length; i++) {
            assertThat(out32[i]).as("f32 out[%d]", i).isCloseTo(ref[i], within(2e-5f));
            assertThat(out16[i]).as("f16 out[%d]", i).isCloseTo(ref[i], within(2e-5f));
        }
    }

    @Test
    void vectorExpIsWithinAFewUlpAndSumLanesAddsInLaneOrder() {
        var species = Vectors.FLOAT;
        float[] in = new float[species.length()], out = new float[species.length()];
        double worstUlps = 0;
        for (float x = -87f; x < 87.9f; x += 0.0173f) {
            for (int i = 0; i < in.length; i++) in[i] = x + i * 1e-3f;
            VectorMath.exp(jdk.incubator.vector.FloatVector.fromArray(species, in, 0)).intoArray(out, 0);
            for (int i = 0; i < in.length; i++) {
                double ref = Math.exp(in[i]);
                worstUlps = Math.max(worstUlps, Math.abs(out[i] - ref) / Math.ulp((float) ref));
            }
        }
        assertThat(worstUlps).isLessThan(3);
        VectorMath.exp(jdk.incubator.vector.FloatVector.broadcast(species, -1000f)).intoArray(out, 0);
        assertThat(out[0]).isLessThan(1e-37f).isGreaterThanOrEqualTo(0f);
        float[] lanes = new float[species.length()];
        for (int i = 0; i < lanes.length; i++) lanes[i] = i == 0 ? 1e8f : 1f;
        float expected = 0;
        for (float v : lanes) expected += v;
        assertThat(VectorMath.sumLanes(jdk.incubator.vector.FloatVector.fromArray(species, lanes, 0))).isEqualTo(expected);
    }

    @Test
    void layerNormWithAndWithoutAffine() {
        float[] x = {1, 2, 3, 4, 10, 10, 10, 10};
        float[] out = new float[8];
        Norms.layerNorm(x, out, 2, 4, null, null, 1e-5f);
        double std = Math.sqrt(1.25 + 1e-5);
        assertThat(out[0]).isCloseTo((float) (-1.5 / std), within(1e-6f));
        assertThat(out[4]).isEqualTo(0f);
        Norms.layerNorm(x, out, 2, 4, new float[]{2, 2, 2, 2}, new float[]{1, 1, 1, 1}, 1e-5f);
        assertThat(out[0]).isCloseTo((float) (1 - 3 / std), within(1e-6f));
    }

    @Test
    void erfIsAccurate() {
        // reference values of erf from tables (15+ digits)
        assertThat(Activations.erf(0.5)).isCloseTo(0.5204998778130465, within(1e-13));
        assertThat(Activations.erf(1.0)).isCloseTo(0.8427007929497149, within(1e-13));
        assertThat(Activations.erf(2.5)).isCloseTo(0.9995930479825550, within(1e-13));
        assertThat(Activations.erf(3.5)).isCloseTo(0.9999992569016276, within(1e-14));
        assertThat(Activations.erf(-1.0)).isCloseTo(-0.8427007929497149, within(1e-13));
        assertThat(Activations.erf(0)).isEqualTo(0.0);
        assertThat(Activations.erf(40)).isEqualTo(1.0);
    }

    @Test
    void attentionRowIsSoftmaxWeightedSum() {
        float[] q = {1, 0};
        float[] k = {1, 0, 0, 1, -1, 0};
        float[] v = {1, 2, 3, 4, 5, 6};
        float[] out = new float[2];
        Attention.attendRow(q, 0, k, v, 0, 2, 3, 2, 1f, out, 0);
        double e1 = Math.exp(1), e0 = 1, em = Math.exp(-1), s = e1 + e0 + em;
        assertThat(out[0]).isCloseTo((float) ((1 * e1 + 3 * e0 + 5 * em) / s), within(1e-6f));
        assertThat(out[1]).isCloseTo((float) ((2 * e1 + 4 * e0 + 6 * em) / s), within(1e-6f));
    }

    /** The eight-keys-at-a-time path (and its tail) against a double-precision softmax, strided like a KV cache. */
    @ParameterizedTest
    @CsvSource({"1, 128", "7, 128", "8, 128", "9, 64", "100, 128", "643, 128", "20, 72"})
    void attentionRowMatchesDoublePrecision(int len, int hd) {
        SplittableRandom r = new SplittableRandom(len * 7L + hd);
        int stride = 3 * hd, kvOff = hd + 5;
        float[] q = new float[hd + 3], k = new float[kvOff + len * stride], v = new float[kvOff + len * stride];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        float scale = (float) (1 / Math.sqrt(hd));
        float[] out = new float[hd + 4];
        Attention.attendRow(q, 3, k, v, kvOff, stride, len, hd, scale, out, 4);
        double[] w = new double[len];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < len; j++) {
            double d = 0;
            for (int t = 0; t < hd; t++) d += (double) q[3 + t] * k[kvOff + j * stride + t];
            w[j] = d * scale;
            max = Math.max(max, w[j]);
        }
        for (int j = 0; j < len; j++) sum += w[j] = Math.exp(w[j] - max);
        for (int t = 0; t < hd; t++) {
            double o = 0;
            for (int j = 0; j < len; j++) o += w[j] / sum * v[kvOff + j * stride + t];
            assertThat((double) out[4 + t]).as("dim %d", t).isCloseTo(o, within(2e-5));
        }
        assertThat(out[0]).isZero();
    }

    @Test
    void ropeRotatesHalves() {
        Rope rope = new Rope(4, 10000);
        float[] x = {1, 2, 3, 4};
        rope.apply(x, 1, 1, 3);
        float[] inv = rope.invFreq();
        double a0 = 3f * inv[0], a1 = 3f * inv[1];
        assertThat(x[0]).isCloseTo((float) (1 * Math.cos(a0) - 3 * Math.sin(a0)), within(1e-6f));
        assertThat(x[2]).isCloseTo((float) (3 * Math.cos(a0) + 1 * Math.sin(a0)), within(1e-6f));
        assertThat(x[1]).isCloseTo((float) (2 * Math.cos(a1) - 4 * Math.sin(a1)), within(1e-6f));
    }

    static float[] rand(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
