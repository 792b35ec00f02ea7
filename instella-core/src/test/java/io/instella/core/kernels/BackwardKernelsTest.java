package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every backward kernel against a central finite difference of its forward kernel in the same direction
 * ({@code <dy, f(x + h e) − f(x − h e)> / 2h} for each input element), or against a float64 loop. Rerun at 128-, 256-
 * and 512-bit vectors by the core pom's width-forced executions.
 */
class BackwardKernelsTest {
    private static final Random RNG = new Random(7);

    private static float[] random(int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (RNG.nextGaussian() * scale);
        return a;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    /** Numeric gradient of x ↦ <dy, f(x)> at x. */
    private static double[] numeric(float[] x, float[] dy, Function<float[], float[]> f, float h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            float[] plus = x.clone(), minus = x.clone();
            plus[i] += h;
            minus[i] -= h;
            g[i] = (dot(dy, f.apply(plus)) - dot(dy, f.apply(minus))) / ((double) plus[i] - minus[i]);
        }
        return g;
    }

    private static void assertClose(float[] actual, double[] expected, double tol) {
        double scale = 1;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        for (int i = 0; i < expected.length; i++) {
            assertThat((double) actual[i]).as("element %d", i).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(tol * scale));
        }
    }

    @Test
    void layerNormBackwardMatchesFiniteDifferencesWithAndWithoutAffine() {
        int n = 3, d = 37; // an odd width: every vector tail
        float[] x = random(n * d, 1.5f), dy = random(n * d, 1f), w = random(d, 1f), b = random(d, 1f);
        for (boolean affine : new boolean[]{false, true}) {
            float[] weight = affine ? w : null, bias = affine ? b : null;
            float[] dx = new float[n * d], dW = affine ? new float[d] : null, dB = affine ? new float[d] : null;
            Norms.layerNormBackward(x, dy, dx, n, d, weight, dW, dB, 1e-5f, false);
            assertClose(dx, numeric(x, dy, xs -> {
                float[] out = new float[n * d];
                Norms.layerNorm(xs, out, n, d, weight, bias, 1e-5f);
                return out;
            }, 1e-2f), 2e-3);
            if (affine) {
                assertClose(dW, numeric(w, dy, ws -> {
                    float[] out = new float[n * d];
                    Norms.layerNorm(x, out, n, d, ws, bias, 1e-5f);
                    return out;
                }, 1e-2f), 2e-3);
                assertClose(dB, numeric(b, dy, bs -> {
                    float[] out = new float[n * d];
                    Norms.layerNorm(x, out, n, d, weight, bs, 1e-5f);
                    return out;
                }, 1e-2f), 2e-3);
            }
        }
    }

    @Test
    void activationBackwardsMatchFiniteDifferences() {
        int n = 29;
        float[] x = random(n, 2f), up = random(n, 1f), dy = random(n, 1f);
        float[] dGate = new float[n], dUp = new float[n];
        Activations.swigluBackward(x, up, dy, dGate, dUp, n);
        assertClose(dGate, numeric(x, dy, g -> {
            float[] a = g.clone();
            Activations.swiglu(a, up.clone(), n);
            return a;
        }, 1e-2f), 2e-3);
        assertClose(dUp, numeric(up, dy, u -> {
            float[] a = x.clone();
            Activations.swiglu(a, u, n);
            return a;
        }, 1e-2f), 2e-3);

        float[] dq = dy.clone();
        Activations.quickGeluBackward(x, dq, n);
        assertClose(dq, numeric(x, dy, a -> {
            float[] c = a.clone();
            Activations.quickGelu(c, n);
            return c;
        }, 1e-2f), 2e-3);
        float[] dg = dy.clone();
        Activations.geluBackward(x, dg, n);
        assertClose(dg, numeric(x, dy, a -> {
            float[] c = a.clone();
            Activations.gelu(c, n);
            return c;
        }, 1e-2f), 2e-3);
        float[] dt = dy.clone();
        Activations.geluTanhBackward(x, dt, n);
        assertClose(dt, numeric(x, dy, a -> {
            float[] c = a.clone();
            Activations.geluTanh(c, n);
            return c;
        }, 1e-2f), 2e-3);
    }

    @Test
    void ropeBackwardIsTheAdjointOfTheRotation() {
        int n = 5, heads = 3, hd = 10;
        Rope rope = new Rope(hd, 10000);
        float[] x = random(n * heads * hd, 1f), dy = random(n * heads * hd, 1f);
        float[] rx = x.clone();
        rope.apply(rx, 0, n, heads, 7);
        float[] back = dy.clone();
        rope.applyBackward(back, 0, n, heads, 7);
        assertThat(dot(rx, dy)).isCloseTo(dot(x, back), org.assertj.core.data.Offset.offset(1e-4));
    }

    /** Float64 attention: out[i, h] = Σ_j softmax_j(scale q_i·k_j) v_j. */
    private static float[] attention(float[] q, float[] k, float[] v, int n, boolean causal, int heads, int kvHeads, int hd, float scale) {
        float[] out = new float[n * heads * hd];
        int group = heads / kvHeads;
        for (int h = 0; h < heads; h++) {
            int g = h / group;
            for (int i = 0; i < n; i++) {
                int len = causal ? i + 1 : n;
                double[] s = new double[len];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    double acc = 0;
                    for (int t = 0; t < hd; t++) acc += (double) q[i * heads * hd + h * hd + t] * k[j * kvHeads * hd + g * hd + t];
                    s[j] = acc * scale;
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < len; j++) sum += s[j] = Math.exp(s[j] - max);
                for (int j = 0; j < len; j++) {
                    for (int t = 0; t < hd; t++) out[i * heads * hd + h * hd + t] += (float) (s[j] / sum * v[j * kvHeads * hd + g * hd + t]);
                }
            }
        }
        return out;
    }

    @Test
    void attentionBackwardMatchesFiniteDifferencesCausalGroupedAndBidirectional() {
        int n = 6, heads = 4, kvHeads = 2, hd = 5;
        float scale = (float) (1 / Math.sqrt(hd));
        for (boolean causal : new boolean[]{true, false}) {
            int kh = causal ? kvHeads : heads;
            float[] q = random(n * heads * hd, 1f), k = random(n * kh * hd, 1f), v = random(n * kh * hd, 1f);
            float[] dOut = random(n * heads * hd, 1f);
            float[] dQ = new float[q.length], dK = new float[k.length], dV = new float[v.length];
            AttentionBackward.backward(q, 0, heads * hd, k, v, 0, kh * hd, n, causal, heads, kh, hd, scale, dOut, dQ, dK, dV);
            assertClose(dQ, numeric(q, dOut, qs -> attention(qs, k, v, n, causal, heads, kh, hd, scale), 1e-2f), 2e-3);
            assertClose(dK, numeric(k, dOut, ks -> attention(q, ks, v, n, causal, heads, kh, hd, scale), 1e-2f), 2e-3);
            assertClose(dV, numeric(v, dOut, vs -> attention(q, k, vs, n, causal, heads, kh, hd, scale), 1e-2f), 2e-3);
        }
    }

    @Test
    void linearBackwardMatchesFloat64LoopsForF32AndBf16Weights() {
        int n = 9, m = 21, k = 35; // rows past the GEMV bound, odd widths
        float[] x = random(n * k, 1f), dy = random(n * m, 1f), wf = random(m * k, 1f);
        short[] wb = new short[m * k];
        for (int i = 0; i < wb.length; i++) {
            wb[i] = Tensor.floatToBf16(wf[i]);
            wf[i] = Tensor.bf16ToFloat(wb[i]);
        }
        Tensor f32 = new Tensor("w", DType.F32, new long[]{m, k}, MemorySegment.ofArray(wf.clone()));
        Tensor bf16 = new Tensor("w", DType.BF16, new long[]{m, k}, MemorySegment.ofArray(wb));
        double[] dxRef = new double[n * k];
        for (int r = 0; r < n; r++) for (int j = 0; j < m; j++) for (int t = 0; t < k; t++) dxRef[r * k + t] += (double) dy[r * m + j] * wf[j * k + t];
        for (Tensor w : new Tensor[]{f32, bf16}) {
            float[] dx = new float[n * k];
            LinearBackward.inputGrad(dy, n, w, dx, false);
            assertClose(dx, dxRef, 1e-5);
            float[] acc = dx.clone();
            LinearBackward.inputGrad(dy, n, w, acc, true);
            double[] twice = dxRef.clone();
            for (int i = 0; i < twice.length; i++) twice[i] *= 2;
            assertClose(acc, twice, 1e-5);
        }
        for (int rows : new int[]{1, 3, n}) {
            double[] dwRef = new double[m * k], dbRef = new double[m];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < m; j++) {
                    dbRef[j] += dy[r * m + j];
                    for (int t = 0; t < k; t++) dwRef[j * k + t] += (double) dy[r * m + j] * x[r * k + t];
                }
            }
            float[] dW = new float[m * k], dB = new float[m];
            LinearBackward.weightGrad(dy, x, rows, m, k, dW, dB);
            assertClose(dW, dwRef, 1e-5);
            assertClose(dB, dbRef, 1e-5);
        }
    }

    /** Runs body at 1 thread and at 3 threads; restores the pool size. */
    private static void atThreads(int threads, Runnable body) {
        int before = Parallel.threads();
        Parallel.setThreads(threads);
        try {
            body.run();
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void rowMajorGemmsCoverEveryBlockAndTailAndDoNotDependOnTheThreadCount() {
        // Depth past one KC slab, columns past one NC task with a partial panel, rows past MC with a 6-row tail.
        int n = Gemm.MC + 13, m = Gemm.KC + 45, k = Gemm.NC + Gemm.NR + 7;
        float[] x = random(n * k, 1f), dy = random(n * m, 1f), wf = random(m * k, 1f);
        short[] wb = new short[m * k], wh = new short[m * k];
        float[] wbf = new float[m * k], whf = new float[m * k];
        for (int i = 0; i < wb.length; i++) {
            wb[i] = Tensor.floatToBf16(wf[i]);
            wbf[i] = Tensor.bf16ToFloat(wb[i]);
            wh[i] = Float.floatToFloat16(wf[i]);
            whf[i] = Float.float16ToFloat(wh[i]);
        }
        Tensor[] weights = {
                new Tensor("w", DType.F32, new long[]{m, k}, MemorySegment.ofArray(wf.clone())),
                new Tensor("w", DType.BF16, new long[]{m, k}, MemorySegment.ofArray(wb)),
                new Tensor("w", DType.F16, new long[]{m, k}, MemorySegment.ofArray(wh))};
        float[][] values = {wf, wbf, whf};
        float[] start = random(n * k, 1f);
        for (int wi = 0; wi < weights.length; wi++) {
            float[] w = values[wi];
            double[] dxRef = new double[n * k];
            for (int r = 0; r < n; r++) for (int j = 0; j < m; j++) {
                double g = dy[r * m + j];
                for (int t = 0; t < k; t++) dxRef[r * k + t] += g * w[j * k + t];
            }
            Tensor wt = weights[wi];
            float[] dx1 = start.clone(), dx3 = start.clone();
            atThreads(1, () -> LinearBackward.inputGrad(dy, n, wt, dx1, true));
            atThreads(3, () -> LinearBackward.inputGrad(dy, n, wt, dx3, true));
            assertThat(dx3).as("thread count independence").isEqualTo(dx1);
            double[] accRef = dxRef.clone();
            for (int i = 0; i < accRef.length; i++) accRef[i] += start[i];
            assertClose(dx1, accRef, 1e-5);
            float[] over = start.clone();
            LinearBackward.inputGrad(dy, n, wt, over, false);
            assertClose(over, dxRef, 1e-5);
        }
        // Weight gradient: m output rows past MC with a tail, k columns past NC, depth n past nothing (sequence).
        float[] dW0 = random(m * k, 1f);
        double[] dwRef = new double[m * k];
        for (int i = 0; i < dwRef.length; i++) dwRef[i] = dW0[i];
        for (int r = 0; r < n; r++) for (int j = 0; j < m; j++) {
            double g = dy[r * m + j];
            for (int t = 0; t < k; t++) dwRef[j * k + t] += g * x[r * k + t];
        }
        float[] dW1 = dW0.clone(), dW3 = dW0.clone();
        atThreads(1, () -> LinearBackward.weightGrad(dy, x, n, m, k, dW1, null));
        atThreads(3, () -> LinearBackward.weightGrad(dy, x, n, m, k, dW3, null));
        assertThat(dW3).as("thread count independence").isEqualTo(dW1);
        assertClose(dW1, dwRef, 1e-5);
        // A skinny weight gradient (LoRA's B: few columns, many rows) and a skinny one the other way (LoRA's A).
        for (int[] shape : new int[][]{{300, 5}, {5, 300}}) {
            int mm = shape[0], kk = shape[1], rows = 77;
            float[] g = random(rows * mm, 1f), a = random(rows * kk, 1f), acc = new float[mm * kk];
            double[] ref = new double[mm * kk];
            for (int r = 0; r < rows; r++) for (int j = 0; j < mm; j++) for (int t = 0; t < kk; t++) ref[j * kk + t] += (double) g[r * mm + j] * a[r * kk + t];
            LinearBackward.weightGrad(g, a, rows, mm, kk, acc, null);
            assertClose(acc, ref, 1e-5);
        }
    }

    @Test
    void blockedAttentionBackwardMatchesTheFloat64GradientsAcrossBlocksTailsAndThreadCounts() {
        // Rows past several query and key blocks with tails; head dims below, at and past whole vector pairs.
        int n = AttentionBackward.BK + AttentionBackward.BQ + 7;
        for (int hd : new int[]{5, 64, 64 + 3}) {
            for (boolean causal : new boolean[]{true, false}) {
                int heads = 4, kvHeads = causal ? 2 : 4;
                float scale = (float) (1 / Math.sqrt(hd));
                float[] q = random(n * heads * hd, 1f), k = random(n * kvHeads * hd, 1f), v = random(n * kvHeads * hd, 1f);
                float[] dOut = random(n * heads * hd, 1f);
                double[][] ref = attentionGradients(q, k, v, dOut, n, causal, heads, kvHeads, hd, scale);
                float[] dQ1 = new float[q.length], dK1 = new float[k.length], dV1 = new float[v.length];
                float[] dQ3 = new float[q.length], dK3 = new float[k.length], dV3 = new float[v.length];
                int kh = kvHeads;
                atThreads(1, () -> AttentionBackward.backward(q, 0, heads * hd, k, v, 0, kh * hd, n, causal, heads, kh, hd, scale, dOut, dQ1, dK1, dV1));
                atThreads(3, () -> AttentionBackward.backward(q, 0, heads * hd, k, v, 0, kh * hd, n, causal, heads, kh, hd, scale, dOut, dQ3, dK3, dV3));
                assertThat(dQ3).isEqualTo(dQ1);
                assertThat(dK3).isEqualTo(dK1);
                assertThat(dV3).isEqualTo(dV1);
                assertClose(dQ1, ref[0], 1e-4);
                assertClose(dK1, ref[1], 1e-4);
                assertClose(dV1, ref[2], 1e-4);
            }
        }
    }

    /** Float64 attention gradients {dQ, dK, dV}, row by row from the full probabilities. */
    private static double[][] attentionGradients(float[] q, float[] k, float[] v, float[] dOut, int n, boolean causal,
                                                 int heads, int kvHeads, int hd, float scale) {
        double[] dQ = new double[q.length], dK = new double[k.length], dV = new double[v.length];
        int group = heads / kvHeads, qs = heads * hd, ks = kvHeads * hd;
        for (int h = 0; h < heads; h++) {
            int g = h / group;
            for (int i = 0; i < n; i++) {
                int len = causal ? i + 1 : n;
                double[] p = new double[len], dp = new double[len];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    double acc = 0;
                    for (int t = 0; t < hd; t++) acc += (double) q[i * qs + h * hd + t] * k[j * ks + g * hd + t];
                    p[j] = acc * scale;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < len; j++) sum += p[j] = Math.exp(p[j] - max);
                double d = 0;
                for (int j = 0; j < len; j++) {
                    p[j] /= sum;
                    for (int t = 0; t < hd; t++) dp[j] += (double) dOut[i * qs + h * hd + t] * v[j * ks + g * hd + t];
                    d += p[j] * dp[j];
                }
                for (int j = 0; j < len; j++) {
                    double ds = p[j] * (dp[j] - d) * scale;
                    for (int t = 0; t < hd; t++) {
                        dQ[i * qs + h * hd + t] += ds * k[j * ks + g * hd + t];
                        dK[j * ks + g * hd + t] += ds * q[i * qs + h * hd + t];
                        dV[j * ks + g * hd + t] += p[j] * dOut[i * qs + h * hd + t];
                    }
                }
            }
        }
        return new double[][]{dQ, dK, dV};
    }
}
