package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * {@code C[n×m] = A[n×k] · Wᵀ} for many rows of A (prefill, vision tower): GotoBLAS-style blocking.
 * Weight rows are widened (bf16 shift, f16 convert, or Q8_0/Q4_0 dequantized) once into packed
 * panels of NR = 2 vectors of output columns × KC depth, laid out depth-major so the micro-kernel
 * reads one cache line per step; the 6×NR micro-kernel keeps 12 accumulators in registers and
 * broadcasts A from its rows in place (A is float already, no packing needed).
 */
final class Gemm {
    private static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final int L = F.length();
    static final int NR = 2 * L;
    static final int MR = 6;
    /** Depth of a packed slab: 6 A rows × KC floats stay in L1 with a panel of NR × KC. */
    static final int KC = 256;
    /** Output columns (weight rows) per parallel task. */
    static final int NC = 8 * NR;
    /** A rows per block, reused across the task's panels while in L2. */
    static final int MC = 8 * MR;
    /** The native slab kernel (NativeKernels.gemmSlab): this class's loops compiled for NR = 16 (AVX2) or 32 (AVX-512). */
    private static final boolean NATIVE = NativeKernels.gemmPanelSupported(NR);

    /**
     * BF16 weights where the native kernels load: packed as BF16 panels (half the bytes of float ones, 16-bit transposes)
     * and widened in the micro-kernel's registers; the float packer took ~38% of a 32-row product (see
     * instella_pack_bf16_pairs). Bit-identical to the float panels.
     */
    private static final boolean NATIVE_BF16_PANELS = NATIVE && NativeKernels.bf16PanelsSupported();

    private static final ThreadLocal<float[]> SLAB = ThreadLocal.withInitial(() -> new float[NC * KC]);
    /** 64-byte aligned, so that a panel row (NR bf16 values: 32 or 64 bytes) never straddles two cache lines. */
    private static final ThreadLocal<MemorySegment> BF16_SLAB = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(2L * NC * KC, 64));
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[KC]);
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[MR * NR]);

    private Gemm() {}

    static void linear(float[] a, int aOff, int n, Tensor w, float[] bias, float[] c, int cOff) {
        int m = (int) w.dim(0), k = (int) w.dim(1);
        MemorySegment seg = w.data();
        DType dt = w.dtype();
        int nc = columnBlock(m, n);
        int tasks = (m + nc - 1) / nc;
        boolean bf16Panels = NATIVE_BF16_PANELS && dt == DType.BF16;
        Parallel.forRange(tasks, 1, (t0, t1) -> {
            float[] slab = bf16Panels ? null : SLAB.get();
            MemorySegment pairs = bf16Panels ? BF16_SLAB.get() : null;
            float[] row = ROW.get();
            float[] tile = TILE.get();
            for (int task = t0; task < t1; task++) {
                int j0 = task * nc, cols = Math.min(nc, m - j0);
                for (int pc = 0; pc < k; pc += KC) {
                    int kc = Math.min(KC, k - pc);
                    if (bf16Panels) {
                        NativeKernels.packBf16Pairs(seg, k, j0, cols, pc, kc, pairs);
                        NativeKernels.gemmSlabBf16(a, aOff + pc, k, n, pairs, kc, cols, c, cOff + j0, m, pc == 0, bias, j0);
                        continue;
                    }
                    pack(seg, dt, k, j0, cols, pc, kc, slab, row);
                    if (NATIVE) {
                        NativeKernels.gemmSlab(a, aOff + pc, k, n, slab, kc, cols, c, cOff + j0, m, pc == 0, bias, j0);
                    } else {
                        slab(a, aOff + pc, k, n, slab, kc, cols, c, cOff + j0, m, pc == 0, bias, j0, tile);
                    }
                }
            }
        });
    }

    /**
     * Output columns per task: NC, or fewer (whole panels) where NC would give fewer than four tasks per thread and the
     * rows make each task long enough to pay for re-reading A (the vision tower's 1024-wide projections: 4 tasks for 2
     * threads left one thread waiting for the other's last task). Results do not depend on it: each output's chain runs
     * over the same slabs in the same order.
     */
    static int columnBlock(int m, int n) {
        int threads = Parallel.threads();
        if (threads == 1 || n < 128 || (m + NC - 1) / NC >= 4 * threads) return NC;
        int wanted = (m + 4 * threads - 1) / (4 * threads);
        return Math.max(2 * NR, Math.min(NC, (wanted + NR - 1) / NR * NR));
    }

    /**
     * {@code C[n × cols] (+)= A[n × depth] · B[depth × cols]} with B stored row-major (B[t][j] at element
     * {@code t·ldb + j} of bSeg, type F32, BF16 or F16): the products against a weight W [m, k] itself, with no
     * transposed copy — the input gradient {@code dy·W} (depth = m, cols = k) — and against activations (the
     * weight gradient {@code dyᵀ·x}). A panel's depth step t is the contiguous row segment B[pc + t][j0 .. j0 + NR),
     * so packing is a widening copy; the micro-kernel and blocking are {@link #linear}'s. With accumulate the
     * products add to C, else they overwrite it.
     * <p>Tasks are blocks of NC columns × (when there are few column blocks) row blocks of whole MC rows; each C
     * element's depth order is the same whatever the split, so results do not depend on the thread count.
     */
    static void rowMajorB(float[] a, int aOff, int lda, int n, MemorySegment bSeg, DType bType, int ldb, int depth,
                          int cols, float[] c, int cOff, int ldc, boolean accumulate) {
        if (n <= 0 || cols <= 0) return;
        if (depth <= 0) {
            if (!accumulate) for (int i = 0; i < n; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + cols, 0f);
            return;
        }
        int colTasks = (cols + NC - 1) / NC;
        int rowUnits = (n + MC - 1) / MC;
        // Enough tasks to keep every thread busy with some balance; row blocks are whole MC multiples.
        int wanted = Math.max(1, (4 * Parallel.threads() + colTasks - 1) / colTasks);
        int rowBlocks = Math.min(rowUnits, wanted);
        int rowsPerBlock = (rowUnits + rowBlocks - 1) / rowBlocks * MC;
        int finalRowBlocks = (n + rowsPerBlock - 1) / rowsPerBlock;
        Parallel.forRange(colTasks * finalRowBlocks, 1, (t0, t1) -> {
            float[] slab = SLAB.get();
            float[] tile = TILE.get();
            for (int task = t0; task < t1; task++) {
                int j0 = (task % colTasks) * NC, cw = Math.min(NC, cols - j0);
                int r0 = (task / colTasks) * rowsPerBlock, rows = Math.min(rowsPerBlock, n - r0);
                for (int pc = 0; pc < depth; pc += KC) {
                    int kc = Math.min(KC, depth - pc);
                    packRows(bSeg, bType, ldb, j0, cw, pc, kc, slab);
                    boolean first = !accumulate && pc == 0;
                    int ao = aOff + r0 * lda + pc, co = cOff + r0 * ldc + j0;
                    if (NATIVE) {
                        NativeKernels.gemmSlab(a, ao, lda, rows, slab, kc, cw, c, co, ldc, first, null, 0);
                    } else {
                        slab(a, ao, lda, rows, slab, kc, cw, c, co, ldc, first, null, 0, tile);
                    }
                }
            }
        });
    }

    /** slab[p][t][q] = B[pc + t][j0 + p·NR + q] for a row-major B (row length ldb), zero past column j0 + cols. */
    private static void packRows(MemorySegment seg, DType dt, int ldb, int j0, int cols, int pc, int kc, float[] slab) {
        int panels = (cols + NR - 1) / NR;
        for (int p = 0; p < panels; p++) {
            int base = p * NR * kc, jp = p * NR, nr = Math.min(NR, cols - jp);
            for (int t = 0; t < kc; t++) {
                int dst = base + t * NR;
                Packing.widen(seg, dt, ldb, (long) (pc + t) * ldb + j0 + jp, slab, dst, nr);
                if (nr < NR) java.util.Arrays.fill(slab, dst + nr, dst + NR, 0f);
            }
        }
    }

    /**
     * C[n × cols] (+)= A[n × kc] · slab for one packed slab: a[aOff] is A[0][pc], c[cOff] is C[0][j0], bias (if any)
     * is read from index j0; the products start from the bias (or zero) on the first slab and add to C after it.
     */
    static void slab(float[] a, int aOff, int lda, int n, float[] slab, int kc, int cols, float[] c, int cOff,
                             int ldc, boolean first, float[] bias, int j0, float[] tile) {
        int panels = (cols + NR - 1) / NR;
        for (int ic = 0; ic < n; ic += MC) {
            int mc = Math.min(MC, n - ic);
            for (int p = 0; p < panels; p++) {
                int jp = p * NR, nr = Math.min(NR, cols - jp);
                int bOff = p * NR * kc;
                int ir = 0;
                for (; ir + MR <= mc; ir += MR) {
                    int i = ic + ir, ci = cOff + i * ldc + jp;
                    if (nr == NR) {
                        micro6(a, aOff + i * lda, lda, slab, bOff, kc, c, ci, ldc, first, bias, j0 + jp);
                    } else {
                        // Partial panel: compute into a tile, copy the valid columns.
                        for (int r = 0; r < MR; r++) {
                            for (int q = 0; q < nr; q++) tile[r * NR + q] = c[ci + r * ldc + q];
                        }
                        micro6(a, aOff + i * lda, lda, slab, bOff, kc, tile, 0, NR, first, null, 0);
                        for (int r = 0; r < MR; r++) {
                            for (int q = 0; q < nr; q++) {
                                c[ci + r * ldc + q] = tile[r * NR + q] + (first && bias != null ? bias[j0 + jp + q] : 0f);
                            }
                        }
                    }
                }
                for (; ir < mc; ir++) {
                    microRow(a, aOff + (ic + ir) * lda, slab, bOff, kc, c, cOff + (ic + ir) * ldc + jp, nr, first, bias, j0 + jp);
                }
            }
        }
    }

    /**
     * Packs weight rows [j0, j0+cols) × depth [pc, pc+kc) into panels of NR rows: slab[p][t][q] =
     * W[j0 + p·NR + q][pc + t], zero beyond the last row.
     */
    static void pack(MemorySegment seg, DType dt, int k, int j0, int cols, int pc, int kc, float[] slab, float[] row) {
        if (NATIVE && dt == DType.BF16) {
            NativeKernels.packBf16(seg, k, j0, cols, pc, kc, slab);
            return;
        }
        if (NATIVE && (dt == DType.Q8_0 || dt == DType.Q4_0)) {
            NativeKernels.packQuantized(seg, dt == DType.Q4_0, k, j0, cols, pc, kc, slab);
            return;
        }
        packJava(seg, dt, k, j0, cols, pc, kc, slab, row);
    }

    /** {@link #pack} in Java (every weight type). */
    static void packJava(MemorySegment seg, DType dt, int k, int j0, int cols, int pc, int kc, float[] slab, float[] row) {
        int panels = (cols + NR - 1) / NR;
        if (dt == DType.Q4_0_R8) {
            Packing.packQ4R8(seg, k, j0, cols, pc, kc, NR, slab, row);
            // Rows past the matrix in the last panel (the packer writes whole groups of 8) are zero.
            for (int r = cols; r < panels * NR; r++) {
                int base = r / NR * NR * kc, q = r % NR;
                for (int t = 0; t < kc; t++) slab[base + t * NR + q] = 0f;
            }
            return;
        }
        for (int p = 0; p < panels; p++) {
            int base = p * NR * kc;
            for (int q = 0; q < NR; q++) {
                int r = p * NR + q;
                if (r < cols) {
                    Packing.widen(seg, dt, k, (long) (j0 + r) * k + pc, row, 0, kc);
                    for (int t = 0; t < kc; t++) slab[base + t * NR + q] = row[t];
                } else {
                    for (int t = 0; t < kc; t++) slab[base + t * NR + q] = 0f;
                }
            }
        }
    }

    /** C[6 × NR] (+)= A[6 × kc] · panel; initialised from bias (or zero) on the first slab. */
    private static void micro6(float[] a, int aOff, int lda, float[] b, int bOff, int kc, float[] c, int cOff, int ldc,
                               boolean first, float[] bias, int jBias) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (first) {
            FloatVector z0 = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, jBias);
            FloatVector z1 = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, jBias + L);
            c00 = z0; c10 = z0; c20 = z0; c30 = z0; c40 = z0; c50 = z0;
            c01 = z1; c11 = z1; c21 = z1; c31 = z1; c41 = z1; c51 = z1;
        } else {
            c00 = FloatVector.fromArray(F, c, cOff); c01 = FloatVector.fromArray(F, c, cOff + L);
            c10 = FloatVector.fromArray(F, c, cOff + ldc); c11 = FloatVector.fromArray(F, c, cOff + ldc + L);
            c20 = FloatVector.fromArray(F, c, cOff + 2 * ldc); c21 = FloatVector.fromArray(F, c, cOff + 2 * ldc + L);
            c30 = FloatVector.fromArray(F, c, cOff + 3 * ldc); c31 = FloatVector.fromArray(F, c, cOff + 3 * ldc + L);
            c40 = FloatVector.fromArray(F, c, cOff + 4 * ldc); c41 = FloatVector.fromArray(F, c, cOff + 4 * ldc + L);
            c50 = FloatVector.fromArray(F, c, cOff + 5 * ldc); c51 = FloatVector.fromArray(F, c, cOff + 5 * ldc + L);
        }
        int a0 = aOff, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
        for (int t = 0; t < kc; t++) {
            int bo = bOff + t * NR;
            FloatVector b0 = FloatVector.fromArray(F, b, bo);
            FloatVector b1 = FloatVector.fromArray(F, b, bo + L);
            FloatVector av = FloatVector.broadcast(F, a[a0 + t]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(F, a[a1 + t]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(F, a[a2 + t]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(F, a[a3 + t]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(F, a[a4 + t]);
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(F, a[a5 + t]);
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
        }
        c00.intoArray(c, cOff); c01.intoArray(c, cOff + L);
        c10.intoArray(c, cOff + ldc); c11.intoArray(c, cOff + ldc + L);
        c20.intoArray(c, cOff + 2 * ldc); c21.intoArray(c, cOff + 2 * ldc + L);
        c30.intoArray(c, cOff + 3 * ldc); c31.intoArray(c, cOff + 3 * ldc + L);
        c40.intoArray(c, cOff + 4 * ldc); c41.intoArray(c, cOff + 4 * ldc + L);
        c50.intoArray(c, cOff + 5 * ldc); c51.intoArray(c, cOff + 5 * ldc + L);
    }

    /** One row of A against a panel, for the rows left over after the 6-row tiles; nr valid columns. */
    private static void microRow(float[] a, int aOff, float[] b, int bOff, int kc, float[] c, int cOff, int nr,
                                 boolean first, float[] bias, int jBias) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F);
        for (int t = 0; t < kc; t++) {
            FloatVector av = FloatVector.broadcast(F, a[aOff + t]);
            c0 = av.fma(FloatVector.fromArray(F, b, bOff + t * NR), c0);
            c1 = av.fma(FloatVector.fromArray(F, b, bOff + t * NR + L), c1);
        }
        float[] tile = TILE.get();
        c0.intoArray(tile, 0);
        c1.intoArray(tile, L);
        for (int q = 0; q < nr; q++) {
            if (first) c[cOff + q] = tile[q] + (bias == null ? 0f : bias[jBias + q]);
            else c[cOff + q] += tile[q];
        }
    }
}
