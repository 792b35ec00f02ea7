package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Backward of softmax attention {@code O = softmax(scale·QKᵀ [+ causal mask]) V} for one sequence, all heads, blocked
 * the way FlashAttention-2's backward is: nothing of size L×L is kept. With the rows' log-sum-exp {@code lse_i} (a
 * first pass over the scores) and {@code D_i = Σ_j P_ij dP_ij} (a second pass), each pair of a block of BQ queries and a block of BK keys
 * recomputes {@code P = exp(scale·QKᵀ − lse)} and {@code dP = dO Vᵀ} as register-tiled score blocks, forms
 * {@code dS = scale·P ∘ (dP − D)}, and adds {@code dV += Pᵀ dO}, {@code dK += dSᵀ Q} (in a per-block accumulator) and
 * {@code dQ += dS K}.
 * <p>Grouped-query heads share their key/value head; work is split by key/value head, so no two threads write the
 * same dK/dV (or dQ) rows, and every sum runs in a fixed order: the results do not depend on the thread count.
 */
public final class AttentionBackward {
    private static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final int L = F.length();
    /** Query rows per block. */
    static final int BQ = BlockedAttention.BQ;
    /** Keys per block: whole vector pairs, as the forward's score tiles ({@link BlockedAttention#scores}). */
    static final int BK = BlockedAttention.BK;

    private AttentionBackward() {}

    private static final class Scratch {
        float[] kt = new float[0], vt = new float[0];   // [hd][BK] transposed key / value block
        float[] dkAcc = new float[0], dvAcc = new float[0]; // [BK][hd]
        final float[] s = new float[BQ * BK], dp = new float[BQ * BK];
        float[] lse = new float[0], dd = new float[0];  // [group][n]

        Scratch ensure(int hd, int group, int n) {
            if (kt.length < hd * BK) {
                kt = new float[hd * BK];
                vt = new float[hd * BK];
                dkAcc = new float[hd * BK];
                dvAcc = new float[hd * BK];
            }
            if (lse.length < group * n) {
                lse = new float[group * n];
                dd = new float[group * n];
            }
            return this;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * @param q       queries, row i of head h at {@code qOff + i*qStride + h*hd}; dOut and dQ use the same layout
     * @param k       keys, row j of kv head g at {@code kvOff + j*kvStride + g*hd}; v, dK and dV use the same layout
     * @param n       rows (queries = keys: self-attention over one sequence or one tile)
     * @param causal  row i attends to keys 0..i (else to all n)
     * @param dQ      overwritten for the n rows of every head; dK and dV are accumulated into (zero them first)
     */
    public static void backward(float[] q, int qOff, int qStride, float[] k, float[] v, int kvOff, int kvStride, int n,
                                boolean causal, int heads, int kvHeads, int hd, float scale,
                                float[] dOut, float[] dQ, float[] dK, float[] dV) {
        if (n <= 0) return;
        int group = heads / kvHeads;
        Parallel.forRange(kvHeads, 1, (g0, g1) -> {
            Scratch sc = SCRATCH.get().ensure(hd, group, n);
            for (int g = g0; g < g1; g++) {
                kvHead(q, qOff, qStride, k, v, kvOff + g * hd, kvStride, n, causal, g * group, group, hd, scale, dOut,
                        dQ, dK, dV, sc);
            }
        });
    }

    /** All work of one key/value head: the heads h0..h0+group-1 that read it. kvOff points at the head's columns. */
    private static void kvHead(float[] q, int qOff, int qStride, float[] k, float[] v, int kvOff, int kvStride, int n,
                               boolean causal, int h0, int group, int hd, float scale, float[] dOut,
                               float[] dQ, float[] dK, float[] dV, Scratch sc) {
        float[] kt = sc.kt, vt = sc.vt, s = sc.s, dp = sc.dp, lse = sc.lse, dd = sc.dd, dkAcc = sc.dkAcc, dvAcc = sc.dvAcc;
        int qBlocks = (n + BQ - 1) / BQ;
        // dQ starts at zero; lse accumulates as a running (max, sum) pair (runMax, lse) first.
        float[] runMax = new float[group * n];
        java.util.Arrays.fill(runMax, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(lse, 0, group * n, 0f);
        for (int hh = 0; hh < group; hh++) {
            int col = (h0 + hh) * hd;
            for (int i = 0; i < n; i++) {
                int off = qOff + i * qStride + col;
                java.util.Arrays.fill(dQ, off, off + hd, 0f);
            }
        }
        // Pass 1: the rows' log-sum-exp of the scaled scores (online over the key blocks).
        for (int j0 = 0; j0 < n; j0 += BK) {
            int bk = Math.min(BK, n - j0);
            transpose(k, kvOff + j0 * kvStride, kvStride, bk, hd, kt);
            for (int hh = 0; hh < group; hh++) {
                int col = (h0 + hh) * hd;
                for (int qb = causal ? j0 / BQ : 0; qb < qBlocks; qb++) {
                    int i0 = qb * BQ, rows = Math.min(BQ, n - i0);
                    BlockedAttention.scores(q, qOff + i0 * qStride + col, qStride, rows, kt, hd, s);
                    for (int r = 0; r < rows; r++) {
                        int visible = causal ? Math.min(bk, i0 + r - j0 + 1) : bk;
                        if (visible <= 0) continue;
                        int row = hh * n + i0 + r;
                        float[] ml = sumExp(s, r * BK, visible, scale, runMax[row]);
                        float mNew = ml[0];
                        float alpha = runMax[row] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(runMax[row] - mNew);
                        lse[row] = lse[row] * alpha + ml[1];
                        runMax[row] = mNew;
                    }
                }
            }
        }
        for (int i = 0; i < group * n; i++) lse[i] = runMax[i] + (float) Math.log(lse[i]);

        // Pass 2: D_i = Σ_j P_ij dP_ij from the very P that pass 3 uses, so that Σ_j dS_ij = D_i (1 − Σ_j P_ij) stays at
        // rounding level (the bias of K gets no gradient, as in exact arithmetic). Summed per row in float64.
        double[] dSum = new double[group * n];
        for (int j0 = 0; j0 < n; j0 += BK) {
            int bk = Math.min(BK, n - j0);
            transpose(k, kvOff + j0 * kvStride, kvStride, bk, hd, kt);
            transpose(v, kvOff + j0 * kvStride, kvStride, bk, hd, vt);
            for (int hh = 0; hh < group; hh++) {
                int col = (h0 + hh) * hd;
                for (int qb = causal ? j0 / BQ : 0; qb < qBlocks; qb++) {
                    int i0 = qb * BQ, rows = Math.min(BQ, n - i0);
                    int qo = qOff + i0 * qStride + col;
                    BlockedAttention.scores(q, qo, qStride, rows, kt, hd, s);
                    BlockedAttention.scores(dOut, qo, qStride, rows, vt, hd, dp);
                    for (int r = 0; r < rows; r++) {
                        int visible = causal ? Math.min(bk, i0 + r - j0 + 1) : bk;
                        int row = hh * n + i0 + r;
                        if (visible > 0) dSum[row] += weightedSum(s, dp, r * BK, visible, scale, lse[row]);
                    }
                }
            }
        }
        for (int i = 0; i < group * n; i++) dd[i] = (float) dSum[i];

        // Pass 3: per key block, every query block that sees it.
        for (int j0 = 0; j0 < n; j0 += BK) {
            int bk = Math.min(BK, n - j0);
            transpose(k, kvOff + j0 * kvStride, kvStride, bk, hd, kt);
            transpose(v, kvOff + j0 * kvStride, kvStride, bk, hd, vt);
            java.util.Arrays.fill(dkAcc, 0, bk * hd, 0f);
            java.util.Arrays.fill(dvAcc, 0, bk * hd, 0f);
            for (int hh = 0; hh < group; hh++) {
                int col = (h0 + hh) * hd;
                for (int qb = causal ? j0 / BQ : 0; qb < qBlocks; qb++) {
                    int i0 = qb * BQ, rows = Math.min(BQ, n - i0);
                    int qo = qOff + i0 * qStride + col;
                    BlockedAttention.scores(q, qo, qStride, rows, kt, hd, s);
                    BlockedAttention.scores(dOut, qo, qStride, rows, vt, hd, dp);
                    for (int r = 0; r < rows; r++) {
                        int visible = causal ? Math.min(bk, i0 + r - j0 + 1) : bk;
                        int row = hh * n + i0 + r;
                        probabilitiesAndScoreGrad(s, dp, r * BK, Math.max(visible, 0), scale, lse[row], dd[row]);
                    }
                    addTransposedProduct(s, rows, bk, dOut, qo, qStride, hd, dvAcc);
                    addTransposedProduct(dp, rows, bk, q, qo, qStride, hd, dkAcc);
                    addProduct(dp, rows, k, kvOff + j0 * kvStride, kvStride, bk, hd, dQ, qo, qStride);
                }
            }
            for (int j = 0; j < bk; j++) {
                int dst = kvOff + (j0 + j) * kvStride;
                VectorMath.addInPlaceAt(dK, dst, dkAcc, j * hd, hd);
                VectorMath.addInPlaceAt(dV, dst, dvAcc, j * hd, hd);
            }
        }
    }

    /** t[d][j] = x[off + j·stride + d] for j < bk, zero for bk ≤ j < BK. */
    private static void transpose(float[] x, int off, int stride, int bk, int hd, float[] t) {
        for (int j = 0; j < BK; j++) {
            if (j < bk) {
                int src = off + j * stride;
                for (int d = 0; d < hd; d++) t[d * BK + j] = x[src + d];
            } else {
                for (int d = 0; d < hd; d++) t[d * BK + j] = 0f;
            }
        }
    }

    /** {max(m, scale·max s), Σ exp(scale·s − that max)} over s[off .. off+count). */
    private static float[] sumExp(float[] s, int off, int count, float scale, float m) {
        FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j + L <= count; j += L) mx = mx.max(FloatVector.fromArray(F, s, off + j));
        float blockMax = mx.reduceLanes(VectorOperators.MAX);
        for (int t = j; t < count; t++) blockMax = Math.max(blockMax, s[off + t]);
        float mNew = Math.max(m, blockMax * scale);
        FloatVector vs = FloatVector.broadcast(F, scale), vm = FloatVector.broadcast(F, mNew), sum = FloatVector.zero(F);
        j = 0;
        for (; j + L <= count; j += L) sum = sum.add(VectorMath.exp(FloatVector.fromArray(F, s, off + j).fma(vs, vm.neg())));
        float total = VectorMath.sumLanes(sum);
        for (; j < count; j++) total += (float) Math.exp(s[off + j] * scale - mNew);
        return new float[]{mNew, total};
    }

    /** Σ_j exp(scale·s_j − lse)·dp_j over the row's visible keys (the P of {@link #probabilitiesAndScoreGrad}). */
    private static float weightedSum(float[] s, float[] dp, int off, int visible, float scale, float lse) {
        FloatVector vs = FloatVector.broadcast(F, scale), vl = FloatVector.broadcast(F, -lse), acc = FloatVector.zero(F);
        int j = 0;
        for (; j + L <= visible; j += L) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(F, s, off + j).fma(vs, vl));
            acc = p.fma(FloatVector.fromArray(F, dp, off + j), acc);
        }
        float total = VectorMath.sumLanes(acc);
        for (; j < visible; j++) total += (float) Math.exp(s[off + j] * scale - lse) * dp[off + j];
        return total;
    }

    /**
     * Row of a score block: s ← P = exp(scale·s − lse), dp ← dS = scale·P∘(dp − D), both zero past the visible keys
     * (whole row of BK).
     */
    private static void probabilitiesAndScoreGrad(float[] s, float[] dp, int off, int visible, float scale, float lse, float d) {
        FloatVector vs = FloatVector.broadcast(F, scale), vl = FloatVector.broadcast(F, -lse), vd = FloatVector.broadcast(F, d);
        int j = 0;
        for (; j + L <= visible; j += L) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(F, s, off + j).fma(vs, vl));
            p.intoArray(s, off + j);
            FloatVector g = FloatVector.fromArray(F, dp, off + j).sub(vd).mul(p).mul(vs);
            g.intoArray(dp, off + j);
        }
        for (; j < visible; j++) {
            float p = (float) Math.exp(s[off + j] * scale - lse);
            s[off + j] = p;
            dp[off + j] = (dp[off + j] - d) * p * scale;
        }
        for (; j < BK; j++) {
            s[off + j] = 0f;
            dp[off + j] = 0f;
        }
    }

    /**
     * acc[j][0..hd) += Σ_r p[r][j] · x_r for j < bk and the block's rows r (x_r at xOff + r·xStride): Pᵀ·X, 4 keys × 2
     * vectors of head dimensions per register tile.
     */
    private static void addTransposedProduct(float[] p, int rows, int bk, float[] x, int xOff, int xStride, int hd, float[] acc) {
        int whole = hd - hd % (2 * L);
        int j = 0;
        for (; j + 4 <= bk; j += 4) {
            for (int c = 0; c < whole; c += 2 * L) {
                int o0 = j * hd + c, o1 = o0 + hd, o2 = o1 + hd, o3 = o2 + hd;
                FloatVector a00 = FloatVector.fromArray(F, acc, o0), a01 = FloatVector.fromArray(F, acc, o0 + L);
                FloatVector a10 = FloatVector.fromArray(F, acc, o1), a11 = FloatVector.fromArray(F, acc, o1 + L);
                FloatVector a20 = FloatVector.fromArray(F, acc, o2), a21 = FloatVector.fromArray(F, acc, o2 + L);
                FloatVector a30 = FloatVector.fromArray(F, acc, o3), a31 = FloatVector.fromArray(F, acc, o3 + L);
                for (int r = 0; r < rows; r++) {
                    int xo = xOff + r * xStride + c, po = r * BK + j;
                    FloatVector b0 = FloatVector.fromArray(F, x, xo);
                    FloatVector b1 = FloatVector.fromArray(F, x, xo + L);
                    FloatVector w = FloatVector.broadcast(F, p[po]);
                    a00 = w.fma(b0, a00); a01 = w.fma(b1, a01);
                    w = FloatVector.broadcast(F, p[po + 1]);
                    a10 = w.fma(b0, a10); a11 = w.fma(b1, a11);
                    w = FloatVector.broadcast(F, p[po + 2]);
                    a20 = w.fma(b0, a20); a21 = w.fma(b1, a21);
                    w = FloatVector.broadcast(F, p[po + 3]);
                    a30 = w.fma(b0, a30); a31 = w.fma(b1, a31);
                }
                a00.intoArray(acc, o0); a01.intoArray(acc, o0 + L);
                a10.intoArray(acc, o1); a11.intoArray(acc, o1 + L);
                a20.intoArray(acc, o2); a21.intoArray(acc, o2 + L);
                a30.intoArray(acc, o3); a31.intoArray(acc, o3 + L);
            }
            for (int jj = j; jj < j + 4; jj++) transposedRow(p, rows, jj, x, xOff, xStride, whole, hd, acc);
        }
        for (; j < bk; j++) transposedRow(p, rows, j, x, xOff, xStride, 0, hd, acc);
    }

    /** acc[j][c0..hd) += Σ_r p[r][j] · x_r[c0..hd): single vectors, then scalars. */
    private static void transposedRow(float[] p, int rows, int j, float[] x, int xOff, int xStride, int c0, int hd, float[] acc) {
        int c = c0;
        for (; c + L <= hd; c += L) {
            FloatVector a = FloatVector.fromArray(F, acc, j * hd + c);
            for (int r = 0; r < rows; r++) {
                a = FloatVector.broadcast(F, p[r * BK + j]).fma(FloatVector.fromArray(F, x, xOff + r * xStride + c), a);
            }
            a.intoArray(acc, j * hd + c);
        }
        for (; c < hd; c++) {
            float a = acc[j * hd + c];
            for (int r = 0; r < rows; r++) a = Math.fma(p[r * BK + j], x[xOff + r * xStride + c], a);
            acc[j * hd + c] = a;
        }
    }

    /**
     * o_r[0..hd) += Σ_j p[r][j] · y_j over the block's bk keys (y_j at yOff + j·yStride; o_r at oOff + r·oStride): P·Y,
     * 4 rows × 2 vectors of head dimensions per register tile.
     */
    private static void addProduct(float[] p, int rows, float[] y, int yOff, int yStride, int bk, int hd,
                                   float[] o, int oOff, int oStride) {
        int whole = hd - hd % (2 * L);
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            int p0 = r * BK, p1 = p0 + BK, p2 = p1 + BK, p3 = p2 + BK;
            for (int c = 0; c < whole; c += 2 * L) {
                int o0 = oOff + r * oStride + c, o1 = o0 + oStride, o2 = o1 + oStride, o3 = o2 + oStride;
                FloatVector a00 = FloatVector.fromArray(F, o, o0), a01 = FloatVector.fromArray(F, o, o0 + L);
                FloatVector a10 = FloatVector.fromArray(F, o, o1), a11 = FloatVector.fromArray(F, o, o1 + L);
                FloatVector a20 = FloatVector.fromArray(F, o, o2), a21 = FloatVector.fromArray(F, o, o2 + L);
                FloatVector a30 = FloatVector.fromArray(F, o, o3), a31 = FloatVector.fromArray(F, o, o3 + L);
                for (int j = 0; j < bk; j++) {
                    int yo = yOff + j * yStride + c;
                    FloatVector b0 = FloatVector.fromArray(F, y, yo);
                    FloatVector b1 = FloatVector.fromArray(F, y, yo + L);
                    FloatVector w = FloatVector.broadcast(F, p[p0 + j]);
                    a00 = w.fma(b0, a00); a01 = w.fma(b1, a01);
                    w = FloatVector.broadcast(F, p[p1 + j]);
                    a10 = w.fma(b0, a10); a11 = w.fma(b1, a11);
                    w = FloatVector.broadcast(F, p[p2 + j]);
                    a20 = w.fma(b0, a20); a21 = w.fma(b1, a21);
                    w = FloatVector.broadcast(F, p[p3 + j]);
                    a30 = w.fma(b0, a30); a31 = w.fma(b1, a31);
                }
                a00.intoArray(o, o0); a01.intoArray(o, o0 + L);
                a10.intoArray(o, o1); a11.intoArray(o, o1 + L);
                a20.intoArray(o, o2); a21.intoArray(o, o2 + L);
                a30.intoArray(o, o3); a31.intoArray(o, o3 + L);
            }
            for (int rr = r; rr < r + 4; rr++) productRow(p, rr, y, yOff, yStride, bk, whole, hd, o, oOff + rr * oStride);
        }
        for (; r < rows; r++) productRow(p, r, y, yOff, yStride, bk, 0, hd, o, oOff + r * oStride);
    }

    /** o[oRow + c0..hd) += Σ_j p[r][j] · y_j[c0..hd): single vectors, then scalars. */
    private static void productRow(float[] p, int r, float[] y, int yOff, int yStride, int bk, int c0, int hd, float[] o, int oRow) {
        int c = c0;
        for (; c + L <= hd; c += L) {
            FloatVector a = FloatVector.fromArray(F, o, oRow + c);
            for (int j = 0; j < bk; j++) {
                a = FloatVector.broadcast(F, p[r * BK + j]).fma(FloatVector.fromArray(F, y, yOff + j * yStride + c), a);
            }
            a.intoArray(o, oRow + c);
        }
        for (; c < hd; c++) {
            float a = o[oRow + c];
            for (int j = 0; j < bk; j++) a = Math.fma(p[r * BK + j], y[yOff + j * yStride + c], a);
            o[oRow + c] = a;
        }
    }
}
