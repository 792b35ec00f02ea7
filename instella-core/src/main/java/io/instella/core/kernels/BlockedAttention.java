package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Scaled dot-product attention for many query rows at once (prefill, vision tower), blocked over the
 * sequence the way FlashAttention is: a block of FQ queries meets one block of FK keys at a time; the
 * scores of that block pair (FQ × FK floats) live in a per-thread scratch, softmax runs online (running
 * max and sum per row, earlier output rescaled), so nothing of size L×L is ever materialised and each
 * key/value block is read once per query block, from cache.
 * <p>
 * Both products are register-tiled (6 query rows × 2 vectors: 12 accumulators, as the GEMM's micro-kernel):
 * S = Q·Kᵀ against keys transposed once per call and head (not again for every query block: 13 times per head in the
 * vision tower), O += P·V with rows of V as vectors; exp runs vectorised. Every score and
 * output element is the same chain of FMAs whatever the tiling.
 */
public final class BlockedAttention {
    private static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final int L = F.length();
    /** Query rows per block of the backward pass (AttentionBackward). */
    static final int BQ = 32;
    /** Query rows per block of the forward pass: whole 6-row tiles. */
    static final int FQ = 48;
    /** Query rows per register tile. */
    private static final int TR = 6;
    /** Keys per block: a multiple of 2L so score tiles are whole vector pairs. */
    static final int BK = Math.max(64, 2 * L);
    /**
     * Keys per block of the forward pass. The softmax's per-row work (max, rescale, sums) is paid per block, so wider
     * blocks run faster, but the blocks fix where the online softmax rescales and so the last bits of every output:
     * at BK the forward gives the same bits as before this class was retiled. The data-parallel training equivalence
     * tests (instella-spark) compare 3 AdamW steps within 1e-6 and are that sensitive: 128-key blocks with the sums
     * kept in lanes moved them by up to 6e-6.
     */
    static final int FK = BK;

    private static final class Scratch {
        final float[] s = new float[FQ * FK];
        float[] o = new float[0];    // [FQ][hd] output accumulator
        float[] vb = new float[0];   // [FK][hd] a half-float value block, widened
        final float[] m = new float[FQ];
        final float[] l = new float[FQ];

        Scratch ensure(int hd) {
            if (o.length < FQ * hd) o = new float[FQ * hd];
            if (vb.length < FK * hd) vb = new float[FK * hd];
            return this;
        }
    }

    /**
     * Per calling thread (its workers read them while it waits): the keys of every KV head transposed,
     * [kvHeads][hd][ktStride] with columns past kvLen zero, and, where value rows are not contiguous per head, the
     * values copied head by head, [kvHeads][kvLen][hd].
     */
    private static final class CallBuffers {
        float[] keys = new float[0];
        float[] values = new float[0];
    }

    private static final ThreadLocal<CallBuffers> CALL = ThreadLocal.withInitial(CallBuffers::new);

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private BlockedAttention() {}

    /**
     * For every head h and query row i < n: out[i, h] = softmax_j(scale · q[i, h]·k[j, g(h)]) · v[j, g(h)] over
     * keys j < kvLen, where g(h) = h / (heads / kvHeads) and, when causal, only keys j ≤ start + i count
     * (query row i sits at absolute position start + i). Rows of q/out/k/v are {@code *Stride} floats apart;
     * head h occupies [h·hd, (h+1)·hd) of a row (after the respective offset).
     */
    public static void attention(float[] q, int qOff, int qStride, float[] k, float[] v, int kvOff, int kvStride, int kvLen,
                                 int n, int start, boolean causal, int heads, int kvHeads, int hd, float scale,
                                 float[] out, int outOff, int outStride) {
        run(q, qOff, qStride, k, v, null, null, kvOff, kvStride, hd, kvLen, n, start, causal, heads, kvHeads, hd, scale,
                out, outOff, outStride);
    }

    /**
     * As {@link #attention(float[], int, int, float[], float[], int, int, int, int, int, boolean, int, int, int, float, float[], int, int)}
     * with key/value head g starting at kvOff + g·kvHeadStride (e.g. a head-major KV cache: rows hd apart, heads
     * capacity·hd apart).
     */
    public static void attention(float[] q, int qOff, int qStride, float[] k, float[] v, int kvOff, int kvStride, int kvHeadStride,
                                 int kvLen, int n, int start, boolean causal, int heads, int kvHeads, int hd, float scale,
                                 float[] out, int outOff, int outStride) {
        run(q, qOff, qStride, k, v, null, null, kvOff, kvStride, kvHeadStride, kvLen, n, start, causal, heads, kvHeads, hd,
                scale, out, outOff, outStride);
    }

    /** As the head-strided float form, for keys and values stored as IEEE half floats (widened block by block). */
    public static void attention(float[] q, int qOff, int qStride, short[] k, short[] v, int kvOff, int kvStride, int kvHeadStride,
                                 int kvLen, int n, int start, boolean causal, int heads, int kvHeads, int hd, float scale,
                                 float[] out, int outOff, int outStride) {
        run(q, qOff, qStride, null, null, k, v, kvOff, kvStride, kvHeadStride, kvLen, n, start, causal, heads, kvHeads, hd,
                scale, out, outOff, outStride);
    }

    private static void run(float[] q, int qOff, int qStride, float[] k, float[] v, short[] k16, short[] v16, int kvOff,
                            int kvStride, int kvHeadStride, int kvLen, int n, int start, boolean causal, int heads, int kvHeads,
                            int hd, float scale, float[] out, int outOff, int outStride) {
        int group = heads / kvHeads;
        int qBlocks = (n + FQ - 1) / FQ;
        int ktStride = (kvLen + FK - 1) / FK * FK;
        CallBuffers buffers = CALL.get();
        float[] kt = transposeKeys(buffers, k, k16, kvOff, kvStride, kvHeadStride, kvLen, kvHeads, hd, ktStride);
        if (v != null && kvStride != hd) {
            // Value rows a model width apart (q/k/v rows of a layer, not a head-major cache) are 4 KB apart at
            // width 1024: a key block's rows all fall in the same L1 sets (profiling vision-shaped attention, P·V
            // took twice the time of Q·Kᵀ, which has the same flops).
            v = gatherValues(buffers, v, kvOff, kvStride, kvHeadStride, kvLen, kvHeads, hd);
            kvOff = 0;
            kvStride = hd;
            kvHeadStride = kvLen * hd;
        }
        float[] values = v;
        int vOff = kvOff, vStride = kvStride, vHeadStride = kvHeadStride;
        Parallel.forRange(heads * qBlocks, 1, (t0, t1) -> {
            Scratch sc = SCRATCH.get().ensure(hd);
            for (int t = t0; t < t1; t++) {
                // Later query blocks have more keys under a causal mask: hand them out first for balance.
                int qb = qBlocks - 1 - t / heads, h = t % heads;
                int i0 = qb * FQ, rows = Math.min(FQ, n - i0);
                int keys = causal ? Math.min(kvLen, start + i0 + rows) : kvLen;
                block(q, qOff + i0 * qStride + h * hd, qStride, kt, (h / group) * hd * ktStride, ktStride, values, v16,
                        vOff + (h / group) * vHeadStride, vStride, keys, rows, causal ? start + i0 : Integer.MAX_VALUE / 2, hd,
                        scale, out, outOff + i0 * outStride + h * hd, outStride, sc);
            }
        });
    }

    /**
     * kt[g][d][j] = key j of KV head g, dimension d, for j < kvLen; zero up to ktStride (the last key block's padding,
     * masked in the softmax). One pass per call, split over the threads by head.
     */
    private static float[] transposeKeys(CallBuffers buffers, float[] k, short[] k16, int kvOff, int kvStride, int kvHeadStride,
                                         int kvLen, int kvHeads, int hd, int ktStride) {
        int size = kvHeads * hd * ktStride;
        if (buffers.keys.length < size) buffers.keys = new float[size];
        float[] kt = buffers.keys;
        Parallel.forRange(kvHeads * hd, 8, (a, b) -> {
            for (int gd = a; gd < b; gd++) {
                int g = gd / hd, d = gd % hd, dst = gd * ktStride, src = kvOff + g * kvHeadStride + d;
                if (k != null) {
                    for (int j = 0; j < kvLen; j++) kt[dst + j] = k[src + j * kvStride];
                } else {
                    for (int j = 0; j < kvLen; j++) kt[dst + j] = Float.float16ToFloat(k16[src + j * kvStride]);
                }
                java.util.Arrays.fill(kt, dst + kvLen, dst + ktStride, 0f);
            }
        });
        return kt;
    }

    /** vg[g][j][0..hd) = value j of KV head g: each head's rows contiguous. */
    private static float[] gatherValues(CallBuffers buffers, float[] v, int kvOff, int kvStride, int kvHeadStride, int kvLen,
                                        int kvHeads, int hd) {
        int size = kvHeads * kvLen * hd;
        if (buffers.values.length < size) buffers.values = new float[size];
        float[] vg = buffers.values;
        Parallel.forRange(kvHeads * kvLen, 64, (a, b) -> {
            for (int gj = a; gj < b; gj++) {
                int g = gj / kvLen, j = gj % kvLen;
                System.arraycopy(v, kvOff + g * kvHeadStride + j * kvStride, vg, gj * hd, hd);
            }
        });
        return vg;
    }

    /**
     * One query block of one head against keys [0, keys) (transposed in kt from ktOff, ktStride floats per dimension);
     * row r may see keys j ≤ pos0 + r.
     */
    private static void block(float[] q, int qOff, int qStride, float[] kt, int ktOff, int ktStride, float[] v, short[] v16,
                              int kvOff, int kvStride, int keys, int rows, int pos0, int hd, float scale, float[] out, int outOff,
                              int outStride, Scratch sc) {
        float[] s = sc.s, o = sc.o, m = sc.m, l = sc.l;
        java.util.Arrays.fill(o, 0, rows * hd, 0f);
        java.util.Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(l, 0, rows, 0f);
        for (int j0 = 0; j0 < keys; j0 += FK) {
            int bk = Math.min(FK, keys - j0);
            // Only the key columns that hold keys (in whole vector pairs): the last block is often short.
            int cols = Math.min(FK, (bk + 2 * L - 1) / (2 * L) * (2 * L));
            scores(q, qOff, qStride, rows, kt, ktOff + j0, ktStride, hd, s, FK, cols);
            // Online softmax per row: mask, scale, new max, rescale the running output and sum.
            for (int r = 0; r < rows; r++) {
                int visible = Math.min(bk, pos0 + r - j0 + 1); // keys j0..j0+visible-1 are visible to row r
                int so = r * FK;
                if (visible <= 0) {
                    java.util.Arrays.fill(s, so, so + bk, 0f); // accumulate reads the block's bk columns
                    continue;
                }
                FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
                int jv = 0;
                for (; jv + L <= visible; jv += L) mx = mx.max(FloatVector.fromArray(F, s, so + jv));
                float blockMax = mx.reduceLanes(VectorOperators.MAX);
                for (int j = jv; j < visible; j++) blockMax = Math.max(blockMax, s[so + j]);
                blockMax *= scale;
                float mNew = Math.max(m[r], blockMax);
                // exp(0) = 1 exactly: skip the scalar exp (a sizeable share of a block) when the running max stands.
                float alpha = m[r] == Float.NEGATIVE_INFINITY ? 0f : mNew == m[r] ? 1f : (float) Math.exp(m[r] - mNew);
                m[r] = mNew;
                FloatVector vs = FloatVector.broadcast(F, scale), vm = FloatVector.broadcast(F, mNew);
                FloatVector sum = FloatVector.zero(F);
                int j = 0;
                for (; j + L <= visible; j += L) {
                    FloatVector p = FloatVector.fromArray(F, s, so + j).mul(vs).sub(vm);
                    p = VectorMath.exp(p);
                    p.intoArray(s, so + j);
                    sum = sum.add(p);
                }
                float tail = 0f;
                for (; j < visible; j++) {
                    float p = (float) Math.exp(s[so + j] * scale - mNew);
                    s[so + j] = p;
                    tail += p;
                }
                for (; j < bk; j++) s[so + j] = 0f;
                l[r] = l[r] * alpha + VectorMath.sumLanes(sum) + tail;
                if (alpha != 1f) VectorMath.scale(o, r * hd, hd, alpha);
            }
            if (v != null) {
                accumulate(s, FK, rows, v, kvOff + j0 * kvStride, kvStride, bk, hd, o);
            } else {
                // Half-float values: widen the block's rows once (read by every query row of the block).
                float[] vb = sc.vb;
                for (int j = 0; j < bk; j++) Packing.widenF16(v16, kvOff + (j0 + j) * kvStride, vb, j * hd, hd);
                accumulate(s, FK, rows, vb, 0, hd, bk, hd, o);
            }
        }
        for (int r = 0; r < rows; r++) {
            float inv = 1f / l[r];
            int dst = outOff + r * outStride, d = 0;
            for (; d + L <= hd; d += L) {
                FloatVector.fromArray(F, o, r * hd + d).mul(inv).intoArray(out, dst + d);
            }
            for (; d < hd; d++) out[dst + d] = o[r * hd + d] * inv;
        }
    }

    /** s[r][0..BK) = q_r · kt (unscaled) for a key block transposed as kt[d·BK + j] (AttentionBackward's blocks). */
    static void scores(float[] q, int qOff, int qStride, int rows, float[] kt, int hd, float[] s) {
        scores(q, qOff, qStride, rows, kt, 0, BK, hd, s, BK, BK);
    }

    /**
     * s[r·sw + j] = q_r · k_j (unscaled) for the keys j < cols (a multiple of 2L) at kt[ktOff + d·ktStride + j]; 6 rows ×
     * 2 vectors of keys per register tile, then the last rows (under 6, only at a block's end) one at a time: each score
     * is the same fma chain over d either way.
     */
    static void scores(float[] q, int qOff, int qStride, int rows, float[] kt, int ktOff, int ktStride, int hd, float[] s,
                       int sw, int cols) {
        int r = 0;
        for (; r + TR <= rows; r += TR) {
            int q0 = qOff + r * qStride, q1 = q0 + qStride, q2 = q1 + qStride, q3 = q2 + qStride, q4 = q3 + qStride, q5 = q4 + qStride;
            for (int c = 0; c < cols; c += 2 * L) {
                FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
                FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00;
                for (int d = 0; d < hd; d++) {
                    int ko = ktOff + d * ktStride + c;
                    FloatVector b0 = FloatVector.fromArray(F, kt, ko);
                    FloatVector b1 = FloatVector.fromArray(F, kt, ko + L);
                    FloatVector x = FloatVector.broadcast(F, q[q0 + d]);
                    a00 = x.fma(b0, a00); a01 = x.fma(b1, a01);
                    x = FloatVector.broadcast(F, q[q1 + d]);
                    a10 = x.fma(b0, a10); a11 = x.fma(b1, a11);
                    x = FloatVector.broadcast(F, q[q2 + d]);
                    a20 = x.fma(b0, a20); a21 = x.fma(b1, a21);
                    x = FloatVector.broadcast(F, q[q3 + d]);
                    a30 = x.fma(b0, a30); a31 = x.fma(b1, a31);
                    x = FloatVector.broadcast(F, q[q4 + d]);
                    a40 = x.fma(b0, a40); a41 = x.fma(b1, a41);
                    x = FloatVector.broadcast(F, q[q5 + d]);
                    a50 = x.fma(b0, a50); a51 = x.fma(b1, a51);
                }
                int so = r * sw + c;
                a00.intoArray(s, so); a01.intoArray(s, so + L);
                a10.intoArray(s, so + sw); a11.intoArray(s, so + sw + L);
                a20.intoArray(s, so + 2 * sw); a21.intoArray(s, so + 2 * sw + L);
                a30.intoArray(s, so + 3 * sw); a31.intoArray(s, so + 3 * sw + L);
                a40.intoArray(s, so + 4 * sw); a41.intoArray(s, so + 4 * sw + L);
                a50.intoArray(s, so + 5 * sw); a51.intoArray(s, so + 5 * sw + L);
            }
        }
        for (; r < rows; r++) {
            int q0 = qOff + r * qStride;
            for (int c = 0; c < cols; c += L) {
                FloatVector a = FloatVector.zero(F);
                for (int d = 0; d < hd; d++) {
                    a = FloatVector.broadcast(F, q[q0 + d]).fma(FloatVector.fromArray(F, kt, ktOff + d * ktStride + c), a);
                }
                a.intoArray(s, r * sw + c);
            }
        }
    }

    /** o[r][0..hd) += Σ_j p[r][j] · v_j over the block's bk keys; 6 rows × 2 vectors of head dims per tile, the
     * last rows (under 6) one at a time — each output the same fma chain over j either way. */
    private static void accumulate(float[] p, int pw, int rows, float[] v, int vOff, int vStride, int bk, int hd, float[] o) {
        int r = 0;
        for (; r + TR <= rows; r += TR) {
            int p0 = r * pw, p1 = p0 + pw, p2 = p1 + pw, p3 = p2 + pw, p4 = p3 + pw, p5 = p4 + pw;
            for (int c = 0; c + 2 * L <= hd; c += 2 * L) {
                int o0 = r * hd + c, o1 = o0 + hd, o2 = o1 + hd, o3 = o2 + hd, o4 = o3 + hd, o5 = o4 + hd;
                FloatVector a00 = FloatVector.fromArray(F, o, o0), a01 = FloatVector.fromArray(F, o, o0 + L);
                FloatVector a10 = FloatVector.fromArray(F, o, o1), a11 = FloatVector.fromArray(F, o, o1 + L);
                FloatVector a20 = FloatVector.fromArray(F, o, o2), a21 = FloatVector.fromArray(F, o, o2 + L);
                FloatVector a30 = FloatVector.fromArray(F, o, o3), a31 = FloatVector.fromArray(F, o, o3 + L);
                FloatVector a40 = FloatVector.fromArray(F, o, o4), a41 = FloatVector.fromArray(F, o, o4 + L);
                FloatVector a50 = FloatVector.fromArray(F, o, o5), a51 = FloatVector.fromArray(F, o, o5 + L);
                for (int j = 0; j < bk; j++) {
                    int vo = vOff + j * vStride + c;
                    FloatVector b0 = FloatVector.fromArray(F, v, vo);
                    FloatVector b1 = FloatVector.fromArray(F, v, vo + L);
                    FloatVector x = FloatVector.broadcast(F, p[p0 + j]);
                    a00 = x.fma(b0, a00); a01 = x.fma(b1, a01);
                    x = FloatVector.broadcast(F, p[p1 + j]);
                    a10 = x.fma(b0, a10); a11 = x.fma(b1, a11);
                    x = FloatVector.broadcast(F, p[p2 + j]);
                    a20 = x.fma(b0, a20); a21 = x.fma(b1, a21);
                    x = FloatVector.broadcast(F, p[p3 + j]);
                    a30 = x.fma(b0, a30); a31 = x.fma(b1, a31);
                    x = FloatVector.broadcast(F, p[p4 + j]);
                    a40 = x.fma(b0, a40); a41 = x.fma(b1, a41);
                    x = FloatVector.broadcast(F, p[p5 + j]);
                    a50 = x.fma(b0, a50); a51 = x.fma(b1, a51);
                }
                a00.intoArray(o, o0); a01.intoArray(o, o0 + L);
                a10.intoArray(o, o1); a11.intoArray(o, o1 + L);
                a20.intoArray(o, o2); a21.intoArray(o, o2 + L);
                a30.intoArray(o, o3); a31.intoArray(o, o3 + L);
                a40.intoArray(o, o4); a41.intoArray(o, o4 + L);
                a50.intoArray(o, o5); a51.intoArray(o, o5 + L);
            }
            for (int rr = r; rr < r + TR; rr++) accumulateRow(p, pw, rr, v, vOff, vStride, bk, hd - hd % (2 * L), o, hd);
        }
        for (; r < rows; r++) accumulateRow(p, pw, r, v, vOff, vStride, bk, 0, o, hd);
    }

    /** o[r][c0..hd) += Σ_j p[r][j] · v_j: whole vectors, then the head dimensions past the last whole vector one by one. */
    private static void accumulateRow(float[] p, int pw, int r, float[] v, int vOff, int vStride, int bk, int c0, float[] o, int hd) {
        int c = c0;
        for (; c + L <= hd; c += L) {
            FloatVector a = FloatVector.fromArray(F, o, r * hd + c);
            for (int j = 0; j < bk; j++) {
                a = FloatVector.broadcast(F, p[r * pw + j]).fma(FloatVector.fromArray(F, v, vOff + j * vStride + c), a);
            }
            a.intoArray(o, r * hd + c);
        }
        for (; c < hd; c++) {
            float a = o[r * hd + c];
            for (int j = 0; j < bk; j++) a = Math.fma(p[r * pw + j], v[vOff + j * vStride + c], a);
            o[r * hd + c] = a;
        }
    }
}
