package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;

/**
 * Scaled dot-product attention for one query row of one head, over keys/values stored row-major with a
 * stride (a KV cache or a batch of tokens). Scores live in a caller-provided scratch row, so nothing of
 * size L×L is ever materialised.
 */
public final class Attention {
    private Attention() {}

    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[1024]);

    /** A per-thread scores buffer of at least n floats. */
    public static float[] scratch(int n) {
        float[] s = SCORES.get();
        if (s.length < n) {
            s = new float[Math.max(n, s.length * 2)];
            SCORES.set(s);
        }
        return s;
    }

    private static final ThreadLocal<float[][]> WIDENED = ThreadLocal.withInitial(() -> new float[][]{new float[0], new float[0]});

    /**
     * Decode attention over one head's keys and values stored as {@code len} contiguous rows of hd floats from
     * kvOff (a KV cache in head-major layout): out[outOff..+hd] = softmax_j(scale · q·k_j) · v_j. Runs the
     * native kernel when it is in use (it reads each row once, front to back, which the hardware prefetcher
     * follows; the Java kernel's eight-keys-at-a-time order reaches about half the memory rate), else
     * {@link #attendRow}.
     */
    public static void attendHead(float[] q, int qOff, float[] k, float[] v, int kvOff, int len, int hd, float scale,
                                  float[] out, int outOff) {
        checkHead(q.length, qOff, k.length, v.length, kvOff, len, hd, out.length, outOff);
        if (NativeKernels.available() && hd % 8 == 0) {
            NativeKernels.attendF32(q, qOff, k, kvOff, v, kvOff, len, hd, scale, scratch(len + 8), out, outOff);
        } else {
            attendRow(q, qOff, k, v, kvOff, hd, len, hd, scale, out, outOff);
        }
    }

    /**
     * As {@link #attendHead(float[], int, float[], float[], int, int, int, float, float[], int)} for keys and
     * values stored as IEEE half floats (a 16-bit KV cache: half the bytes to read per decode step). The
     * Java path widens the rows into a per-thread scratch first.
     */
    public static void attendHead(float[] q, int qOff, short[] k, short[] v, int kvOff, int len, int hd, float scale,
                                  float[] out, int outOff) {
        checkHead(q.length, qOff, k.length, v.length, kvOff, len, hd, out.length, outOff);
        if (NativeKernels.available() && hd % 8 == 0) {
            NativeKernels.attendF16(q, qOff, k, kvOff, v, kvOff, len, hd, scale, scratch(len + 8), out, outOff);
            return;
        }
        float[][] w = WIDENED.get();
        int size = len * hd;
        if (w[0].length < size) {
            w[0] = new float[size];
            w[1] = new float[size];
        }
        Packing.widenF16(k, kvOff, w[0], 0, size);
        Packing.widenF16(v, kvOff, w[1], 0, size);
        attendRow(q, qOff, w[0], w[1], 0, hd, len, hd, scale, out, outOff);
    }

    private static void checkHead(int qLength, int qOff, int kLength, int vLength, int kvOff, int len, int hd, int outLength, int outOff) {
        java.util.Objects.checkFromIndexSize(qOff, hd, qLength);
        java.util.Objects.checkFromIndexSize(outOff, hd, outLength);
        java.util.Objects.checkFromIndexSize(kvOff, (long) len * hd, Math.min(kLength, vLength));
    }

    /**
     * out[outOff..+hd] = softmax_j(scale · q·k_j) · v_j for j in [0, len), where k_j starts at
     * kvOff + j·kvStride in k (and likewise in v).
     * <p>
     * Decode spends most of its non-weight time here (one query row against every cached key), so the
     * scores are computed eight keys at a time: eight vector accumulators, then one transposing reduction
     * that turns them into a vector of eight scores (instead of eight horizontal sums); exp runs vectorised.
     * Every sum is in a fixed order, so results do not change between interpreted and compiled code.
     */
    public static void attendRow(float[] q, int qOff, float[] k, float[] v, int kvOff, int kvStride, int len,
                                 int hd, float scale, float[] out, int outOff) {
        float[] scores = scratch(len + 8);
        int j = 0;
        if (EIGHT_KEYS && hd % L == 0) {
            for (; j + 8 <= len; j += 8) scores8(q, qOff, k, kvOff + j * kvStride, kvStride, hd, scale, scores, j);
        }
        for (; j < len; j++) scores[j] = VectorMath.dot(q, qOff, k, kvOff + j * kvStride, hd) * scale;
        float max = VectorMath.max(scores, 0, len);
        float sum = VectorMath.expShiftedInPlace(scores, 0, len, max);
        float inv = 1.0f / sum;
        if (EIGHT_KEYS && hd % (8 * L) == 0) {
            for (int d0 = 0; d0 < hd; d0 += 8 * L) weightedValues64(scores, inv, v, kvOff + d0, kvStride, len, out, outOff + d0);
            return;
        }
        java.util.Arrays.fill(out, outOff, outOff + hd, 0f);
        for (j = 0; j < len; j++) {
            VectorMath.axpy(scores[j] * inv, v, kvOff + j * kvStride, out, outOff, hd);
        }
    }

    /**
     * out[0..64) = inv · Σ_j p_j · v_j[0..64): the 64 output values stay in eight registers across all keys (an
     * axpy per key would load and store the output row once per key, which made this pass store-bound).
     */
    private static void weightedValues64(float[] p, float inv, float[] v, int vOff, int stride, int len, float[] out, int outOff) {
        FloatVector o0 = FloatVector.zero(F), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0, o6 = o0, o7 = o0;
        for (int j = 0; j < len; j++) {
            FloatVector pj = FloatVector.broadcast(F, p[j]);
            int o = vOff + j * stride;
            o0 = FloatVector.fromArray(F, v, o).fma(pj, o0);
            o1 = FloatVector.fromArray(F, v, o + L).fma(pj, o1);
            o2 = FloatVector.fromArray(F, v, o + 2 * L).fma(pj, o2);
            o3 = FloatVector.fromArray(F, v, o + 3 * L).fma(pj, o3);
            o4 = FloatVector.fromArray(F, v, o + 4 * L).fma(pj, o4);
            o5 = FloatVector.fromArray(F, v, o + 5 * L).fma(pj, o5);
            o6 = FloatVector.fromArray(F, v, o + 6 * L).fma(pj, o6);
            o7 = FloatVector.fromArray(F, v, o + 7 * L).fma(pj, o7);
        }
        o0.mul(inv).intoArray(out, outOff);
        o1.mul(inv).intoArray(out, outOff + L);
        o2.mul(inv).intoArray(out, outOff + 2 * L);
        o3.mul(inv).intoArray(out, outOff + 3 * L);
        o4.mul(inv).intoArray(out, outOff + 4 * L);
        o5.mul(inv).intoArray(out, outOff + 5 * L);
        o6.mul(inv).intoArray(out, outOff + 6 * L);
        o7.mul(inv).intoArray(out, outOff + 7 * L);
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final int L = F.length();
    /** The eight-key path is written for 256-bit vectors; narrower machines take one dot product per key. */
    private static final boolean EIGHT_KEYS = Vectors.FLOAT.vectorBitSize() >= 256;
    /** Two-vector shuffles for the folding reduction (negative indices take lanes of the second vector). */
    private static final VectorShuffle<Float> HALF_LO = VectorShuffle.fromValues(F, 0, 1, 2, 3, -8, -7, -6, -5);
    private static final VectorShuffle<Float> HALF_HI = VectorShuffle.fromValues(F, 4, 5, 6, 7, -4, -3, -2, -1);
    private static final VectorShuffle<Float> PAIR_LO = VectorShuffle.fromValues(F, 0, 1, 4, 5, -8, -7, -4, -3);
    private static final VectorShuffle<Float> PAIR_HI = VectorShuffle.fromValues(F, 2, 3, 6, 7, -6, -5, -2, -1);
    private static final VectorShuffle<Float> EVEN = VectorShuffle.fromValues(F, 0, 2, 4, 6, -8, -6, -4, -2);
    private static final VectorShuffle<Float> ODD = VectorShuffle.fromValues(F, 1, 3, 5, 7, -7, -5, -3, -1);

    /** Adds the lanes that {@code lo} and {@code hi} pair up, a's partial sums first, then b's. */
    private static FloatVector fold(FloatVector a, FloatVector b, VectorShuffle<Float> lo, VectorShuffle<Float> hi) {
        return a.rearrange(lo, b).add(a.rearrange(hi, b));
    }

    /** scores[s..s+8) = scale · q·k_j for the eight keys starting at kOff (kStride apart); hd a multiple of 8. */
    private static void scores8(float[] q, int qOff, float[] k, int kOff, int kStride, int hd, float scale, float[] scores, int s) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int d = 0; d < hd; d += L) {
            FloatVector qv = FloatVector.fromArray(F, q, qOff + d);
            int o = kOff + d;
            a0 = qv.fma(FloatVector.fromArray(F, k, o), a0);
            a1 = qv.fma(FloatVector.fromArray(F, k, o + kStride), a1);
            a2 = qv.fma(FloatVector.fromArray(F, k, o + 2 * kStride), a2);
            a3 = qv.fma(FloatVector.fromArray(F, k, o + 3 * kStride), a3);
            a4 = qv.fma(FloatVector.fromArray(F, k, o + 4 * kStride), a4);
            a5 = qv.fma(FloatVector.fromArray(F, k, o + 5 * kStride), a5);
            a6 = qv.fma(FloatVector.fromArray(F, k, o + 6 * kStride), a6);
            a7 = qv.fma(FloatVector.fromArray(F, k, o + 7 * kStride), a7);
        }
        // Three levels of pairwise folding: 8 vectors of 8 partial sums → 4 of (4+4) → 2 of (2+2+2+2) → 1 of 8.
        FloatVector b01 = fold(a0, a1, HALF_LO, HALF_HI), b23 = fold(a2, a3, HALF_LO, HALF_HI);
        FloatVector b45 = fold(a4, a5, HALF_LO, HALF_HI), b67 = fold(a6, a7, HALF_LO, HALF_HI);
        FloatVector c0123 = fold(b01, b23, PAIR_LO, PAIR_HI), c4567 = fold(b45, b67, PAIR_LO, PAIR_HI);
        fold(c0123, c4567, EVEN, ODD).mul(scale).intoArray(scores, s);
    }
}
