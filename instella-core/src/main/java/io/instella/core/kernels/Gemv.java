package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Matrix × few vectors (decode: one to a few tokens): memory-bound, so every weight byte is read once,
 * straight from the mapped tensor, and widened in registers; no scratch copy of weights.
 * <ul>
 *   <li>BF16: a 32-bit load holds two bf16 values; {@code bits << 16} is the even one and
 *       {@code bits & 0xFFFF0000} the odd one, so x is split once per call into even/odd lanes
 *       and each weight vector costs one load, one shift, one and, two FMAs.</li>
 *   <li>Q8_0 / Q4_0 (256-bit vectors and up): integer dot products against activations quantized to int8 per
 *       block once per call (as llama.cpp does). Java has no vpmaddubsw/vpmaddwd, so 16 products are one
 *       vpmullw on shorts and the pairwise int sum is two shifts and an add; per block this measured 5.9
 *       (Q8_0) and 6.3 (Q4_0) cycles on one core against 8.5 and 9.5 for widening the weights to float and
 *       using FMAs with float x, which remain the path for narrower vectors.</li>
 *   <li>Where the native kernels load ({@link NativeKernels}: Linux x86-64, AVX2 and up), BF16 (one token) and Q8_0/Q4_0 go through them
 *       instead, with the same int8 activations: vpmaddubsw/vpmaddwd do a block in about half the
 *       instructions (measured on one core, 8192 × 2048 Q4_0 from DRAM: 1.5 ns per block against 2.7 ns
 *       for the Java kernel). Where they run, the language model's Q4_0 and Q8_0 matrices are interleaved by 8
 *       rows at load ({@code Q4_0_R8}, {@code Q8_0_R8}) and each 32-byte load feeds 8 rows' dot products.</li>
 * </ul>
 */
final class Gemv {
    static final VectorSpecies<Float> F = Vectors.FLOAT;
    static final int L = F.length();
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /**
     * Int8 weights loaded per step: one float vector's worth (L bytes), but at least 8, as there is no byte vector
     * under 64 bits; with 128-bit floats (L = 4, NEON) one load then feeds {@link #BQ_PARTS} = 2 float vectors.
     */
    @SuppressWarnings("unchecked")
    static final VectorSpecies<Byte> BQ = (VectorSpecies<Byte>) VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
    static final int BQ_PARTS = BQ.length() / L;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Rows per parallel task: enough work to amortise the hand-off, enough tasks to balance. */
    static final int ROW_GRAIN = 16;
    /** Rows per native call: a call costs tens of nanoseconds, a row of 2048 Q4_0 weights about 100. */
    static final int NATIVE_ROW_GRAIN = 64;

    /**
     * The native BF16 kernel expects x split in groups of 16 ({@link #NATIVE_BF16_LANES} = 8-lane AVX2 vectors),
     * whatever width the Java kernels use (the AVX-512 builds re-split it per 32 themselves). Over all 16 layers of the full-size model (paired runs, 2 threads) it read
     * the weights 13–17% faster than {@link #bf16Rows} at 8 lanes, mostly on the down projection, whose 32 KB of x it
     * shares between four rows (see the C source); on a 512-bit host (Zen 5) it decoded 1.86× faster than the 16-lane
     * Java kernel (bf16 decode_of_read 0.88 against 0.47 in one `instella bench` run each).
     */
    private static final boolean NATIVE_BF16 = NativeKernels.available();
    private static final int NATIVE_BF16_LANES = 8;

    private static final ThreadLocal<float[]> X_SPLIT = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    private Gemv() {}

    static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        linear(x, xOff, n, new Tensor[]{w}, new float[][]{bias}, new float[][]{out}, new int[]{outOff});
    }

    /**
     * Several matrices of one weight type and width applied to the same x (q/k/v, gate/up): x is prepared once
     * (split for BF16, quantized to int8 for Q8_0/Q4_0) and one parallel pass covers all their rows, so the
     * threads meet once instead of once per matrix.
     */
    static void linear(float[] x, int xOff, int n, Tensor[] ws, float[][] biases, float[][] outs, int[] outOffs) {
        DType dt = ws[0].dtype();
        int k = (int) ws[0].dim(1);
        for (Tensor w : ws) {
            if (w.dtype() != dt || w.dim(1) != k) throw new IllegalArgumentException(w + " does not match " + ws[0]);
        }
        Activation act = prepare(dt, x, xOff, n, k);
        RowTask[] tasks = new RowTask[ws.length];
        int[] firstUnit = new int[ws.length + 1];
        for (int i = 0; i < ws.length; i++) {
            int m = (int) ws[i].dim(0);
            checkOut(outs[i], outOffs[i], n, m);
            tasks[i] = rowTask(act, ws[i].data(), n, m, k, biases[i], outs[i], outOffs[i]);
            firstUnit[i + 1] = firstUnit[i] + m / act.unitRows;
        }
        if (tasks.length == 1) {
            Parallel.forRange(firstUnit[1], act.grain, tasks[0]::run);
            return;
        }
        Parallel.forRange(firstUnit[ws.length], act.grain, (u0, u1) -> {
            for (int i = 0; i < tasks.length; i++) {
                int lo = Math.max(u0, firstUnit[i]), hi = Math.min(u1, firstUnit[i + 1]);
                if (lo < hi) tasks[i].run(lo - firstUnit[i], hi - firstUnit[i]);
            }
        });
    }

    /** Which kernel family runs and the activations it reads, prepared once per call. */
    private enum Kernel { BF16_NATIVE, BF16, QUANT_NATIVE, QUANT_INT, QUANT_FLOAT, R8_NATIVE, WIDENED }

    /**
     * @param unitRows weight rows per work unit (8 for the row-interleaved Q4_0_R8 and Q8_0_R8 layouts)
     * @param grain    work units per parallel chunk at least
     */
    private record Activation(Kernel kernel, DType dt, float[] x, int xOff, float[] xs, QuantizedActivations qa,
                              int unitRows, int grain) {}

    private static Activation prepare(DType dt, float[] x, int xOff, int n, int k) {
        return switch (dt) {
            case BF16 -> n == 1 && NATIVE_BF16 && k % 32 == 0
                    ? new Activation(Kernel.BF16_NATIVE, dt, x, xOff, splitEvenOdd(x, xOff, n, k, NATIVE_BF16_LANES), null, 1,
                            NATIVE_ROW_GRAIN)
                    : new Activation(Kernel.BF16, dt, x, xOff, splitEvenOdd(x, xOff, n, k), null, 1, ROW_GRAIN);
            case Q8_0, Q4_0 -> NativeKernels.available()
                    ? new Activation(Kernel.QUANT_NATIVE, dt, x, xOff, null, QuantizedActivations.of(x, xOff, n, k), 1, NATIVE_ROW_GRAIN)
                    : INT_DOT
                    ? new Activation(Kernel.QUANT_INT, dt, x, xOff, null, QuantizedActivations.of(x, xOff, n, k), 1, ROW_GRAIN)
                    : new Activation(Kernel.QUANT_FLOAT, dt, x, xOff, null, null, 1, ROW_GRAIN);
            // Rows interleaved by 8 (repacked at load where the native kernels run): 8 rows per dot product.
            case Q4_0_R8, Q8_0_R8 -> NativeKernels.available()
                    ? new Activation(Kernel.R8_NATIVE, dt, x, xOff, null, QuantizedActivations.of(x, xOff, n, k),
                            Quant.R8_ROWS, NATIVE_ROW_GRAIN / Quant.R8_ROWS)
                    : new Activation(Kernel.WIDENED, dt, x, xOff, null, null, 1, ROW_GRAIN); // correct, not fast
            case F32, F16 -> new Activation(Kernel.WIDENED, dt, x, xOff, null, null, 1, ROW_GRAIN);
            default -> throw new IllegalArgumentException("unsupported weight type " + dt);
        };
    }

    /** Rows [j0, j1) of token {@code token} against int8 activations ({@link #q8RowsInt}, {@link #q4RowsInt}). */
    @FunctionalInterface
    private interface IntRows {
        void run(MemorySegment seg, int k, QuantizedActivations qa, int token, int j0, int j1, float[] bias, float[] out, int outOff);
    }

    /** Rows [j0, j1) against float activations ({@link #q8Rows}, {@link #q4Rows}). */
    @FunctionalInterface
    private interface FloatRows {
        void run(MemorySegment seg, int k, float[] x, int xOff, int j0, int j1, float[] bias, float[] out, int outOff);
    }

    /** Work units [u0, u1) of one matrix (rows, or groups of 8 interleaved rows). */
    @FunctionalInterface
    private interface RowTask {
        void run(int u0, int u1);
    }

    /**
     * The rows of one [m, k] matrix against the prepared activations. With several tokens each weight row is read
     * once from memory and then from L1 for the other tokens.
     */
    private static RowTask rowTask(Activation a, MemorySegment seg, int n, int m, int k, float[] bias, float[] out, int outOff) {
        boolean q4 = a.dt == DType.Q4_0;
        float[] x = a.x, xs = a.xs;
        int xOff = a.xOff;
        QuantizedActivations qa = a.qa;
        return switch (a.kernel) {
            case BF16_NATIVE -> (j0, j1) -> NativeKernels.bf16Rows(seg, k, j0, j1, xs, bias, out, outOff);
            case BF16 -> (j0, j1) -> {
                if (n == 1) bf16Rows(seg, k, xs, 0, j0, j1, bias, out, outOff);
                else for (int j = j0; j < j1; j++) {
                    for (int i = 0; i < n; i++) bf16Rows(seg, k, xs, i * k, j, j + 1, bias, out, outOff + i * m);
                }
            };
            case QUANT_NATIVE -> (j0, j1) -> {
                if (q4) NativeKernels.q4_0Rows(seg, k, m, j0, j1, qa, n, bias, out, outOff);
                else NativeKernels.q8_0Rows(seg, k, m, j0, j1, qa, n, bias, out, outOff);
            };
            case QUANT_INT -> {
                IntRows rows = q4 ? Gemv::q4RowsInt : Gemv::q8RowsInt;
                yield (j0, j1) -> {
                    if (n == 1) rows.run(seg, k, qa, 0, j0, j1, bias, out, outOff);
                    else for (int j = j0; j < j1; j++) {
                        for (int i = 0; i < n; i++) rows.run(seg, k, qa, i, j, j + 1, bias, out, outOff + i * m);
                    }
                };
            }
            case QUANT_FLOAT -> {
                FloatRows rows = q4 ? Gemv::q4Rows : Gemv::q8Rows;
                yield (j0, j1) -> {
                    if (n == 1) rows.run(seg, k, x, xOff, j0, j1, bias, out, outOff);
                    else for (int j = j0; j < j1; j++) {
                        for (int i = 0; i < n; i++) rows.run(seg, k, x, xOff + i * k, j, j + 1, bias, out, outOff + i * m);
                    }
                };
            }
            case R8_NATIVE -> a.dt == DType.Q4_0_R8
                    ? (g0, g1) -> NativeKernels.q4_0R8Rows(seg, k, m, g0, g1, qa, n, bias, out, outOff)
                    : (g0, g1) -> NativeKernels.q8_0R8Rows(seg, k, m, g0, g1, qa, n, bias, out, outOff);
            case WIDENED -> (j0, j1) -> {
                // Each weight row widened to float once (per-thread scratch), then dotted with the n tokens.
                float[] row = rowScratch(k);
                for (int j = j0; j < j1; j++) {
                    Packing.widen(seg, a.dt, k, (long) j * k, row, 0, k);
                    float b = bias == null ? 0f : bias[j];
                    for (int i = 0; i < n; i++) out[outOff + i * m + j] = VectorMath.dot(x, xOff + i * k, row, 0, k) + b;
                }
            };
        };
    }

    /** The native kernels write without bounds checks: the output range is checked here first. */
    private static void checkOut(float[] out, int outOff, int n, int m) {
        if (outOff < 0 || (long) outOff + (long) n * m > out.length) {
            throw new IndexOutOfBoundsException("output of " + n + " × " + m + " at " + outOff + " does not fit " + out.length);
        }
    }

    private static float[] rowScratch(int k) {
        float[] r = ROW.get();
        if (r.length < k) {
            r = new float[k];
            ROW.set(r);
        }
        return r;
    }

    /**
     * x rows rearranged so that each chunk of 2L values becomes its L even-indexed values followed by its
     * L odd-indexed values (the order a 32-bit load of bf16 pairs produces them); the tail stays in order.
     */
    static float[] splitEvenOdd(float[] x, int xOff, int n, int k) {
        return splitEvenOdd(x, xOff, n, k, L);
    }

    /** As {@link #splitEvenOdd(float[], int, int, int)} for vectors of {@code lanes} floats. */
    static float[] splitEvenOdd(float[] x, int xOff, int n, int k, int lanes) {
        float[] xs = X_SPLIT.get();
        if (xs.length < n * k) {
            xs = new float[n * k];
            X_SPLIT.set(xs);
        }
        int chunk = 2 * lanes, bound = k - k % chunk;
        for (int i = 0; i < n; i++) {
            int src = xOff + i * k, dst = i * k;
            for (int c = 0; c < bound; c += chunk) {
                for (int e = 0; e < lanes; e++) {
                    xs[dst + c + e] = x[src + c + 2 * e];
                    xs[dst + c + lanes + e] = x[src + c + 2 * e + 1];
                }
            }
            System.arraycopy(x, src + bound, xs, dst + bound, k - bound);
        }
        return xs;
    }

    /**
     * out[j] = W[j]·x + bias[j] for rows [j0, j1) of a BF16 matrix, x split even/odd. One row at a time, two
     * chunks per step: a single sequential stream runs at full DRAM speed (25 GB/s on one core here), while
     * interleaving two rows' streams measured 10 GB/s.
     */
    static void bf16Rows(MemorySegment seg, int k, float[] xs, int xsOff, int j0, int j1, float[] bias, float[] out, int outOff) {
        int chunk = 2 * L, bound = k - k % chunk, bound2 = k - k % (2 * chunk);
        long rowBytes = 2L * k;
        for (int j = j0; j < j1; j++) {
            long r0 = j * rowBytes;
            FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0;
            int c = 0;
            for (; c < bound2; c += 2 * chunk) {
                IntVector w0 = IntVector.fromMemorySegment(I, seg, r0 + 2L * c, LE);
                IntVector w1 = IntVector.fromMemorySegment(I, seg, r0 + 2L * (c + chunk), LE);
                e0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, xsOff + c), e0);
                o0 = w0.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, xsOff + c + L), o0);
                e1 = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, xsOff + c + chunk), e1);
                o1 = w1.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, xsOff + c + chunk + L), o1);
            }
            for (; c < bound; c += chunk) {
                IntVector w0 = IntVector.fromMemorySegment(I, seg, r0 + 2L * c, LE);
                e0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, xsOff + c), e0);
                o0 = w0.and(0xFFFF0000).reinterpretAsFloats().fma(FloatVector.fromArray(F, xs, xsOff + c + L), o0);
            }
            float s0 = VectorMath.sumLanes(e0.add(o0).add(e1.add(o1)));
            for (int t = bound; t < k; t++) s0 += xs[xsOff + t] * bf16(seg, r0 + 2L * t);
            out[outOff + j] = s0 + (bias == null ? 0f : bias[j]);
        }
    }

    private static float bf16(MemorySegment seg, long byteOff) {
        return Float.intBitsToFloat((seg.get(I16, byteOff) & 0xFFFF) << 16);
    }

    /**
     * Q8_0 rows [j0, j1): per block, sum of q·x in float, scaled by the block's d. One row at a time:
     * a single sequential stream keeps the hardware prefetcher at full speed (two interleaved row
     * streams measured at half the bandwidth from DRAM).
     */
    static void q8Rows(MemorySegment seg, int k, float[] x, int xOff, int j0, int j1, float[] bias, float[] out, int outOff) {
        int blocks = k / 32;
        long rowBytes = 34L * blocks;
        int j = j0;
        for (; j < j1; j++) {
            long r0 = j * rowBytes;
            FloatVector acc0 = FloatVector.zero(F);
            for (int b = 0; b < blocks; b++) {
                long o0 = r0 + 34L * b;
                int xb = xOff + 32 * b;
                FloatVector p0 = FloatVector.zero(F);
                for (int s = 0; s < 32; s += BQ.length()) {
                    ByteVector q = ByteVector.fromMemorySegment(BQ, seg, o0 + 2 + s, LE);
                    for (int part = 0; part < BQ_PARTS; part++) {
                        p0 = ((FloatVector) q.convertShape(VectorOperators.B2F, F, part))
                                .fma(FloatVector.fromArray(F, x, xb + s + part * L), p0);
                    }
                }
                acc0 = p0.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, o0))), acc0);
            }
            out[outOff + j] = VectorMath.sumLanes(acc0) + (bias == null ? 0f : bias[j]);
        }
    }

    /** The integer Q8_0/Q4_0 kernels are written for 256-bit vectors (AVX2 and up). */
    static final boolean INT_DOT = F.vectorBitSize() >= 256;
    private static final VectorSpecies<Float> F256 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;

    /**
     * Activations quantized per block of 32 the way llama.cpp quantizes them for its q4_0 dot product
     * (d = max|x|/127, q = roundf(x/d)), kept as shorts so that 16 products are one vpmullw; c8 holds
     * 8·Σq per block, which turns the unsigned nibbles' dot product into the signed (nibble − 8) one.
     */
    static final class QuantizedActivations {
        private static final ThreadLocal<QuantizedActivations> TL = ThreadLocal.withInitial(QuantizedActivations::new);
        short[] q = new short[0];
        /** The same values as bytes, and each block's Σq, for the native kernels. */
        byte[] q8 = new byte[0];
        int[] sums = new int[0];
        float[] d = new float[0];
        float[] c8 = new float[0];

        /** Blocks per parallel chunk; below {@link #PARALLEL_BLOCKS} blocks (decode) the caller's thread does them all. */
        private static final int BLOCK_GRAIN = 64, PARALLEL_BLOCKS = 2048;
        private static final ThreadLocal<int[]> BLOCK = ThreadLocal.withInitial(() -> new int[32]);

        static QuantizedActivations of(float[] x, int xOff, int n, int k) {
            QuantizedActivations a = TL.get();
            int blocks = n * k / 32;
            if (a.q.length < n * k) {
                a.q = new short[n * k];
                a.q8 = new byte[n * k];
            }
            if (a.d.length < blocks) {
                a.d = new float[blocks];
                a.c8 = new float[blocks];
                a.sums = new int[blocks];
            }
            // Blocks are independent, so splitting them between threads (prefill) gives the same values.
            if (blocks >= PARALLEL_BLOCKS) Parallel.forRange(blocks, BLOCK_GRAIN, (b0, b1) -> a.quantize(x, xOff, b0, b1));
            else a.quantize(x, xOff, 0, blocks);
            return a;
        }

        /** Blocks [b0, b1): d = max|x|/127, q = roundf(x/d) (ties away from zero), as llama.cpp's quantize_row_q8_0. */
        private void quantize(float[] x, int xOff, int b0, int b1) {
            int[] qi = BLOCK.get();
            for (int b = b0; b < b1; b++) {
                int src = xOff + 32 * b;
                float amax;
                if (L >= 8) {
                    FloatVector m = FloatVector.fromArray(F, x, src).abs();
                    for (int j = L; j < 32; j += L) m = m.max(FloatVector.fromArray(F, x, src + j).abs());
                    amax = m.reduceLanes(VectorOperators.MAX); // max is exact in any order
                } else {
                    amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[src + j]));
                }
                float scale = amax / 127f, id = scale != 0 ? 1f / scale : 0f;
                int sum = 0;
                if (L >= 8) {
                    // The scalar rounding below, lane-wise: the same float product, +0.5, truncation, sign.
                    IntVector s = IntVector.zero(I);
                    for (int j = 0; j < 32; j += L) {
                        FloatVector v = FloatVector.fromArray(F, x, src + j).mul(id);
                        IntVector q = (IntVector) v.abs().add(0.5f).convert(VectorOperators.F2I, 0);
                        q = q.blend(q.neg(), v.lt(0f).cast(I));
                        q.intoArray(qi, j);
                        s = s.add(q);
                    }
                    sum = s.reduceLanes(VectorOperators.ADD); // integers: exact in any order
                } else {
                    for (int j = 0; j < 32; j++) {
                        float v = x[src + j] * id;
                        int qv = (int) (Math.abs(v) + 0.5f);
                        qi[j] = v < 0 ? -qv : qv;
                        sum += qi[j];
                    }
                }
                for (int j = 0; j < 32; j++) {
                    q[32 * b + j] = (short) qi[j];
                    q8[32 * b + j] = (byte) qi[j];
                }
                d[b] = scale;
                c8[b] = 8f * sum;
                sums[b] = sum;
            }
        }
    }

    /**
     * Q8_0 rows against int8 activations (llama.cpp's q8_0·q8_0 dot): per block, 2 × 16 weight bytes widened
     * to shorts, multiplied with the activation shorts (|q·q| ≤ 127², two summed fit a short), pairwise-added
     * to 8 ints, converted and scaled by d_w·d_x. Measured 5.9 cycles per block on one core against 8.5 for
     * the float-dequantizing kernel ({@link #q8Rows}, kept for narrower vectors).
     */
    static void q8RowsInt(MemorySegment seg, int k, QuantizedActivations qa, int token, int j0, int j1, float[] bias,
                          float[] out, int outOff) {
        int blocks = k / 32;
        int b0 = token * blocks, x0 = token * k;
        short[] xq = qa.q;
        float[] xd = qa.d;
        long rowBytes = 34L * blocks;
        for (int j = j0; j < j1; j++) {
            long r0 = j * rowBytes;
            FloatVector acc = FloatVector.zero(F256);
            for (int b = 0; b < blocks; b++) {
                long o = r0 + 34L * b;
                int xb = x0 + 32 * b;
                ShortVector w0 = (ShortVector) ByteVector.fromMemorySegment(B128, seg, o + 2, LE).convertShape(VectorOperators.B2S, S256, 0);
                ShortVector w1 = (ShortVector) ByteVector.fromMemorySegment(B128, seg, o + 18, LE).convertShape(VectorOperators.B2S, S256, 0);
                ShortVector p = w0.mul(ShortVector.fromArray(S256, xq, xb)).add(w1.mul(ShortVector.fromArray(S256, xq, xb + 16)));
                IntVector pi = p.reinterpretAsInts();
                IntVector sum = pi.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .add(pi.lanewise(VectorOperators.ASHR, 16));
                float scale = Float.float16ToFloat(seg.get(I16, o)) * xd[b0 + b];
                acc = ((FloatVector) sum.convertShape(VectorOperators.I2F, F256, 0)).fma(FloatVector.broadcast(F256, scale), acc);
            }
            out[outOff + j] = VectorMath.sumLanes(acc) + (bias == null ? 0f : bias[j]);
        }
    }

    /**
     * Q4_0 rows against int8 activations: per block, 16 bytes → low and high nibbles (and, shift, and),
     * widened to shorts, multiplied with the activation shorts (|nibble·q| ≤ 15·127, two summed fit a
     * short), pairwise-added to 8 ints, converted and scaled by d_w·d_x; the −8 offset is folded into
     * a scalar correction d_w·d_x·8Σq per block.
     */
    static void q4RowsInt(MemorySegment seg, int k, QuantizedActivations qa, int token, int j0, int j1, float[] bias,
                          float[] out, int outOff) {
        int blocks = k / 32;
        int b0 = token * blocks, x0 = token * k;
        short[] xq = qa.q;
        float[] xd = qa.d, c8 = qa.c8;
        long rowBytes = 18L * blocks;
        for (int j = j0; j < j1; j++) {
            long r0 = j * rowBytes;
            FloatVector acc = FloatVector.zero(F256);
            float corr = 0f;
            for (int b = 0; b < blocks; b++) {
                long o = r0 + 18L * b;
                int xb = x0 + 32 * b;
                IntVector v = ByteVector.fromMemorySegment(B128, seg, o + 2, LE).reinterpretAsInts();
                ShortVector lo = (ShortVector) v.and(0x0F0F0F0F).reinterpretAsBytes().convertShape(VectorOperators.B2S, S256, 0);
                ShortVector hi = (ShortVector) v.lanewise(VectorOperators.LSHR, 4).and(0x0F0F0F0F).reinterpretAsBytes()
                        .convertShape(VectorOperators.B2S, S256, 0);
                ShortVector p = lo.mul(ShortVector.fromArray(S256, xq, xb)).add(hi.mul(ShortVector.fromArray(S256, xq, xb + 16)));
                IntVector pi = p.reinterpretAsInts();
                IntVector sum = pi.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .add(pi.lanewise(VectorOperators.ASHR, 16));
                float scale = Float.float16ToFloat(seg.get(I16, o)) * xd[b0 + b];
                acc = ((FloatVector) sum.convertShape(VectorOperators.I2F, F256, 0)).fma(FloatVector.broadcast(F256, scale), acc);
                corr += scale * c8[b0 + b];
            }
            out[outOff + j] = VectorMath.sumLanes(acc) - corr + (bias == null ? 0f : bias[j]);
        }
    }

    /** Nibbles of {@code BQ.length()} packed bytes minus 8: low (hi=false) or high nibbles. */
    private static ByteVector nibbles(MemorySegment seg, long off, boolean high) {
        IntVector v = ByteVector.fromMemorySegment(BQ, seg, off, LE).reinterpretAsInts();
        if (high) v = v.lanewise(VectorOperators.LSHR, 4);
        return v.and(0x0F0F0F0F).reinterpretAsBytes().sub((byte) 8);
    }

    /** Q4_0 rows [j0, j1) in float (vectors narrower than 256 bits): byte s of a block holds values s (low nibble) and s+16 (high nibble). */
    static void q4Rows(MemorySegment seg, int k, float[] x, int xOff, int j0, int j1, float[] bias, float[] out, int outOff) {
        int blocks = k / 32;
        long rowBytes = 18L * blocks;
        int j = j0;
        for (; j < j1; j++) {
            long r0 = j * rowBytes;
            FloatVector acc0 = FloatVector.zero(F);
            for (int b = 0; b < blocks; b++) {
                long o0 = r0 + 18L * b;
                int xb = xOff + 32 * b;
                FloatVector p0 = FloatVector.zero(F);
                for (int s = 0; s < 16; s += BQ.length()) {
                    ByteVector lo = nibbles(seg, o0 + 2 + s, false), hi = nibbles(seg, o0 + 2 + s, true);
                    for (int part = 0; part < BQ_PARTS; part++) {
                        int xs = xb + s + part * L;
                        p0 = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xs), p0);
                        p0 = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xs + 16), p0);
                    }
                }
                acc0 = p0.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(I16, o0))), acc0);
            }
            out[outOff + j] = VectorMath.sumLanes(acc0) + (bias == null ? 0f : bias[j]);
        }
    }
}
