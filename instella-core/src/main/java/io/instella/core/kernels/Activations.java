package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Activation functions, element-wise. */
public final class Activations {
    private Activations() {}

    private static final VectorSpecies<Float> F = Vectors.FLOAT;

    /** SwiGLU: gate[i] = silu(gate[i]) * up[i] (vectorised exp, within ~2 ulp of the scalar one). */
    public static void swiglu(float[] gate, float[] up, int n) {
        Parallel.forRange(n, 1 << 14, (s, e) -> {
            int i = s;
            for (; i + F.length() <= e; i += F.length()) {
                FloatVector g = FloatVector.fromArray(F, gate, i);
                FloatVector den = VectorMath.exp(g.neg()).add(1f);
                g.div(den).mul(FloatVector.fromArray(F, up, i)).intoArray(gate, i);
            }
            for (; i < e; i++) {
                float g = gate[i];
                gate[i] = g / (1.0f + (float) Math.exp(-g)) * up[i];
            }
        });
    }

    /** quick_gelu(x) = x * sigmoid(1.702 x) (CLIP), vectorised. */
    public static void quickGelu(float[] x, int n) {
        Parallel.forRange(n, 1 << 14, (s, e) -> {
            int i = s;
            for (; i + F.length() <= e; i += F.length()) {
                FloatVector v = FloatVector.fromArray(F, x, i);
                FloatVector den = VectorMath.exp(v.mul(-1.702f)).add(1f);
                v.div(den).intoArray(x, i);
            }
            for (; i < e; i++) {
                float v = x[i];
                x[i] = v / (1.0f + (float) Math.exp(-1.702f * v));
            }
        });
    }

    /** Exact GELU 0.5 x (1 + erf(x / sqrt 2)), PyTorch's nn.GELU() default. */
    public static void gelu(float[] x, int n) {
        Parallel.forRange(n, 1 << 14, (s, e) -> {
            for (int i = s; i < e; i++) {
                double v = x[i];
                x[i] = (float) (0.5 * v * (1.0 + erf(v * 0.7071067811865476)));
            }
        });
    }

    /** tanh-approximated GELU (gelu_pytorch_tanh / gelu_new). */
    public static void geluTanh(float[] x, int n) {
        for (int i = 0; i < n; i++) {
            double v = x[i];
            x[i] = (float) (0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
        }
    }

    /**
     * Backward of {@link #swiglu}: from the pre-activation gate g and up u and the gradient dy of silu(g)·u,
     * writes dGate = dy·u·σ(g)(1 + g(1 − σ(g))) and dUp = dy·silu(g).
     */
    public static void swigluBackward(float[] gate, float[] up, float[] dy, float[] dGate, float[] dUp, int n) {
        Parallel.forRange(n, 1 << 14, (s, e) -> {
            for (int i = s; i < e; i++) {
                float g = gate[i];
                float sig = 1.0f / (1.0f + (float) Math.exp(-g));
                float silu = g * sig;
                dUp[i] = dy[i] * silu;
                dGate[i] = dy[i] * up[i] * (sig * (1.0f + g * (1.0f - sig)));
            }
        });
    }

    /** Backward of {@link #quickGelu} from its input x: dx = dy·(σ(1.702x) + 1.702·x·σ(1.702x)(1 − σ(1.702x))), in place of dy. */
    public static void quickGeluBackward(float[] x, float[] dy, int n) {
        Parallel.forRange(n, 1 << 14, (s, e) -> {
            for (int i = s; i < e; i++) {
                float v = x[i];
                float sig = 1.0f / (1.0f + (float) Math.exp(-1.702f * v));
                dy[i] *= sig + 1.702f * v * sig * (1.0f - sig);
            }
        });
    }

    /** Backward of the exact {@link #gelu} from its input x: dx = dy·(Φ(x) + x·φ(x)), in place of dy. */
    public static void geluBackward(float[] x, float[] dy, int n) {
        Parallel.forRange(n, 1 << 14, (s, e) -> {
            for (int i = s; i < e; i++) {
                double v = x[i];
                double cdf = 0.5 * (1.0 + erf(v * 0.7071067811865476));
                double pdf = Math.exp(-0.5 * v * v) * 0.3989422804014327;
                dy[i] = (float) (dy[i] * (cdf + v * pdf));
            }
        });
    }

    /** Backward of {@link #geluTanh} from its input x, in place of dy. */
    public static void geluTanhBackward(float[] x, float[] dy, int n) {
        for (int i = 0; i < n; i++) {
            double v = x[i];
            double inner = 0.7978845608028654 * (v + 0.044715 * v * v * v);
            double t = Math.tanh(inner);
            double dInner = 0.7978845608028654 * (1 + 3 * 0.044715 * v * v);
            dy[i] = (float) (dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * dInner));
        }
    }

    /**
     * erf in double precision (Java has none): Maclaurin series below |x| = 3 (terms alternate; ~1e-13
     * absolute after cancellation), Laplace continued fraction for erfc above.
     */
    public static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double a = Math.abs(x);
        double r;
        if (a < 3.0) {
            double x2 = a * a, term = a, sum = a;
            for (int n = 1; n < 200; n++) {
                term *= -x2 / n;
                double c = term / (2 * n + 1);
                sum += c;
                if (Math.abs(c) < 1e-17 * Math.abs(sum)) break;
            }
            r = sum * 1.1283791670955126; // 2/sqrt(pi)
        } else if (a < 27.0) {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))
            double f = a;
            for (int n = 60; n >= 1; n--) f = a + (n / 2.0) / f;
            r = 1.0 - Math.exp(-a * a) / (f * 1.7724538509055159);
        } else {
            r = 1.0;
        }
        return x < 0 ? -r : r;
    }
}
