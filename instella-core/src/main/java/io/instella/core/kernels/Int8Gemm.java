package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Int8 GEMM for Q8_0, Q4_0 and their row-interleaved layouts Q4_0_R8, Q8_0_R8 (quantized prefill, vision tower): the activations are quantized per
 * block of 32 once per call, exactly as for decode ({@link Gemv.QuantizedActivations}, llama.cpp's q8_0 activations),
 * and every weight block is read in place and multiplied in integers — no float panels.
 * <p>
 * Per output (activation row i, weight row j) and block b the exact integer sum isum = Σ w·x (Q4_0: Σ (nibble − 8)·x)
 * enters one float chain in block order: {@code acc = fma((float) isum, d_w · d_x, acc)} from 0, then
 * {@code out = acc (+ bias)}. The native kernel ({@code instella_int8_gemm}: 8 weight rows per vector, one row per
 * lane, vpdpbusd or vpmaddubsw against broadcast activations, each weight chunk serving 4 activation rows) and this
 * class's Java loops compute the same integers and the same chain, so they are bit-identical at any vector width
 * and thread count.
 */
final class Int8Gemm {
    /** Weight rows per native work unit (two groups of 8). */
    static final int UNIT_ROWS = 16;
    private static final int Q8_GROUP_BLOCK = 304;

    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, Vectors.FLOAT.vectorShape());
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, Vectors.FLOAT.vectorShape());
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[0]);
    private static final ThreadLocal<short[]> ROW = ThreadLocal.withInitial(() -> new short[0]);
    private static final ThreadLocal<float[]> SCALES = ThreadLocal.withInitial(() -> new float[0]);

    private Int8Gemm() {}

    static boolean supports(DType dt) {
        return dt == DType.Q8_0 || dt == DType.Q4_0 || dt == DType.Q4_0_R8 || dt == DType.Q8_0_R8;
    }

    /** Bytes of per-thread scratch the native kernel needs for rows of k values: its panel budget, at least one unit's. */
    static int scratchBytes(int k) {
        return Math.max(256 * 1024, 2 * (k / 32) * Q8_GROUP_BLOCK);
    }

    /** out[outOff + i·m + j] = x_i · W[j] (+ bias[j]) for the n rows of x (row length k) through the native kernel where it loads. */
    static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        linear(x, xOff, n, w, bias, out, outOff, NativeKernels.int8GemmAvailable());
    }

    static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff, boolean useNative) {
        DType dt = w.dtype();
        if (!supports(dt)) throw new IllegalArgumentException(w.name() + ": the int8 GEMM needs Q8_0 or Q4_0 weights, not " + dt);
        int m = (int) w.dim(0), k = (int) w.dim(1);
        if (n <= 0) return;
        if (outOff < 0 || (long) outOff + (long) n * m > out.length) {
            throw new IndexOutOfBoundsException("output of " + n + " × " + m + " at " + outOff + " does not fit " + out.length);
        }
        if (bias != null && bias.length < m) throw new IllegalArgumentException("bias of " + bias.length + " for " + m + " rows");
        if (xOff < 0 || (long) xOff + (long) n * k > x.length) throw new IndexOutOfBoundsException("input of " + n + " × " + k);
        Gemv.QuantizedActivations qa = Gemv.QuantizedActivations.of(x, xOff, n, k);
        MemorySegment seg = w.data();
        int units = (m + UNIT_ROWS - 1) / UNIT_ROWS;
        int type = switch (dt) { case Q8_0 -> 0; case Q4_0 -> 1; case Q4_0_R8 -> 2; default -> 3; };
        Parallel.forRange(units, 1, (u0, u1) -> {
            if (useNative) {
                NativeKernels.int8Gemm(seg, type, k, m, u0, u1, qa, n, bias, out, outOff, scratch(k));
            } else {
                rows(seg, dt, k, m, u0 * UNIT_ROWS, Math.min(m, u1 * UNIT_ROWS), qa, n, bias, out, outOff);
            }
        });
    }

    private static byte[] scratch(int k) {
        byte[] s = SCRATCH.get();
        if (s.length < scratchBytes(k)) {
            s = new byte[scratchBytes(k)];
            SCRATCH.set(s);
        }
        return s;
    }

    /** The Java loops: weight rows [j0, j1), each unpacked once to shorts and then dotted with the n activation rows. */
    static void rows(MemorySegment seg, DType dt, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                     float[] bias, float[] out, int outOff) {
        int blocks = k / 32;
        short[] w = ROW.get();
        if (w.length < k) {
            w = new short[k];
            ROW.set(w);
        }
        float[] dw = SCALES.get();
        if (dw.length < blocks) {
            dw = new float[blocks];
            SCALES.set(dw);
        }
        short[] xq = qa.q;
        float[] xd = qa.d;
        for (int j = j0; j < j1; j++) {
            unpackRow(seg, dt, k, j, w, dw);
            for (int i = 0; i < n; i++) {
                int x0 = i * k, b0 = i * blocks;
                float acc = 0f;
                for (int b = 0; b < blocks; b++) {
                    int isum = blockDot(w, xq, 32 * b, x0 + 32 * b);
                    acc = Math.fma((float) isum, dw[b] * xd[b0 + b], acc);
                }
                out[outOff + i * m + j] = bias == null ? acc : acc + bias[j];
            }
        }
    }

    /** Σ w[wOff + t]·x[xOff + t] over 32 values, exact: products fit a short, pairs are summed as ints. */
    private static int blockDot(short[] w, short[] x, int wOff, int xOff) {
        IntVector sum = IntVector.zero(I);
        for (int s = 0; s < 32; s += S.length()) {
            IntVector p = ShortVector.fromArray(S, w, wOff + s).mul(ShortVector.fromArray(S, x, xOff + s)).reinterpretAsInts();
            sum = sum.add(p.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16))
                    .add(p.lanewise(VectorOperators.ASHR, 16));
        }
        return sum.reduceLanes(VectorOperators.ADD); // integers: exact in any order
    }

    /** Row j's k signed values (Q8_0: q; Q4_0: nibble − 8) and per-block scales d as float. */
    static void unpackRow(MemorySegment seg, DType dt, int k, int j, short[] w, float[] dw) {
        int blocks = k / 32;
        switch (dt) {
            case Q8_0 -> {
                long r0 = (long) j * blocks * 34;
                for (int b = 0; b < blocks; b++) {
                    long o = r0 + 34L * b;
                    dw[b] = Float.float16ToFloat(seg.get(I16, o));
                    for (int t = 0; t < 32; t++) w[32 * b + t] = seg.get(ValueLayout.JAVA_BYTE, o + 2 + t);
                }
            }
            case Q4_0 -> {
                long r0 = (long) j * blocks * 18;
                for (int b = 0; b < blocks; b++) {
                    long o = r0 + 18L * b;
                    dw[b] = Float.float16ToFloat(seg.get(I16, o));
                    for (int t = 0; t < 16; t++) {
                        int v = seg.get(ValueLayout.JAVA_BYTE, o + 2 + t) & 0xFF;
                        w[32 * b + t] = (short) ((v & 0xF) - 8);
                        w[32 * b + 16 + t] = (short) ((v >>> 4) - 8);
                    }
                }
            }
            case Q8_0_R8 -> {
                for (int b = 0; b < blocks; b++) {
                    dw[b] = Float.float16ToFloat(seg.get(I16, Quant.r8ScaleOffset(dt, k, j, b)));
                    for (int t = 0; t < 32; t++) w[32 * b + t] = seg.get(ValueLayout.JAVA_BYTE, Quant.r8QuantOffset(dt, k, j, b, t));
                }
            }
            case Q4_0_R8 -> {
                for (int b = 0; b < blocks; b++) {
                    dw[b] = Float.float16ToFloat(seg.get(I16, Quant.r8ScaleOffset(dt, k, j, b)));
                    for (int t = 0; t < 16; t++) {
                        int v = seg.get(ValueLayout.JAVA_BYTE, Quant.r8QuantOffset(dt, k, j, b, t)) & 0xFF;
                        w[32 * b + t] = (short) ((v & 0xF) - 8);
                        w[32 * b + 16 + t] = (short) ((v >>> 4) - 8);
                    }
                }
            }
            default -> throw new IllegalArgumentException("unsupported weight type " + dt);
        }
    }
}
