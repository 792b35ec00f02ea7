package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Element-wise and reduction kernels on float arrays (Vector API, scalar tails). */
public final class VectorMath {
    static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());

    private VectorMath() {}

    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int L = F.length();
        for (; i + 2 * L <= bound; i += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (; i < bound; i += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    /**
     * The sum of a vector's lanes in a fixed order (lane 0 first). {@code reduceLanes(ADD)} may add in a
     * different order once compiled than when interpreted, so a call's result could change in its last bit
     * after warm-up; this one does not.
     */
    public static float sumLanes(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5·2^23: adding it rounds to an integer

    /**
     * e^x lane-wise for vectors of the preferred species, to within ~2 ulp (Cephes expf: x = n·ln2 + r, degree-6 polynomial on r, 2^n built in
     * the exponent bits). Built from IEEE add/mul/fma only, so interpreted and compiled code agree bit for
     * bit, unlike {@code lanewise(EXP)} whose compiled form (SVML) and fallback (Math.exp) may differ.
     * Inputs are clamped to [−87.3, 88]: below, the result is ~1e-38 (0 for softmax); above, e^88.
     */
    public static FloatVector exp(FloatVector x) {
        x = x.max(-87.33654f).min(88f); // keeps n in [-126, 127]: 2^n is a normal float
        FloatVector n = x.fma(LOG2E, ROUND).sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, FloatVector.broadcast(F, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(F, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(F, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(F, 5.0000001201e-1f));
        FloatVector y = p.fma(r.mul(r), r.add(1f));
        IntVector bits = ((IntVector) n.convertShape(VectorOperators.F2I, I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return y.mul(bits.reinterpretAsFloats());
    }

    /** y[yOff..] += alpha * x[xOff..] */
    public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        FloatVector va = FloatVector.broadcast(F, alpha);
        for (; i < bound; i += F.length()) {
            FloatVector.fromArray(F, x, xOff + i).fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    /** y[off..] *= s */
    public static void scale(float[] y, int off, int n, float s) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector.fromArray(F, y, off + i).mul(s).intoArray(y, off + i);
        }
        for (; i < n; i++) y[off + i] *= s;
    }

    /** dst[i] += src[i] over the whole arrays (residual connections). */
    public static void addInPlace(float[] dst, float[] src, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector.fromArray(F, dst, i).add(FloatVector.fromArray(F, src, i)).intoArray(dst, i);
        }
        for (; i < n; i++) dst[i] += src[i];
    }

    /** dst[dOff+i] += src[sOff+i] for i < n. */
    public static void addInPlaceAt(float[] dst, int dOff, float[] src, int sOff, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        for (; i < bound; i += F.length()) {
            FloatVector.fromArray(F, dst, dOff + i).add(FloatVector.fromArray(F, src, sOff + i)).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] += src[sOff + i];
    }

    /** a[i] = e^(a[i] − shift) for i in [off, off+n), vectorised ({@link #exp}); returns their sum (fixed order). */
    public static float expShiftedInPlace(float[] a, int off, int n, float shift) {
        int i = 0;
        int bound = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (; i < bound; i += F.length()) {
            FloatVector e = exp(FloatVector.fromArray(F, a, off + i).sub(shift));
            e.intoArray(a, off + i);
            acc = acc.add(e);
        }
        float sum = sumLanes(acc);
        for (; i < n; i++) {
            float e = (float) Math.exp(a[off + i] - shift);
            a[off + i] = e;
            sum += e;
        }
        return sum;
    }

    public static float max(float[] a, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, a[off + i]);
        return m;
    }
}
