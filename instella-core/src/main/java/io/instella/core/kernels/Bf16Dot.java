package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.Locale;

/**
 * Opt-in BF16 compute for BF16 weights: the activations are rounded to BF16 (round to nearest even, as torch rounds
 * a float to bfloat16) and multiplied with the stored BF16 weights, accumulating in float. Off by default — it moves
 * the logits (x keeps 8 significant bits instead of 24), so golden parity holds only with it off. Turned on with
 * {@code -Dinstella.bf16dot=true} or {@code INSTELLA_BF16_DOT=1} (read once, at class load), or {@link #setEnabled}.
 * <p>
 * Where the CPU has AVX-512 BF16 ({@code avx512_bf16}) and an AVX-512 native build runs, {@code vdpbf16ps} does the
 * products (two BF16 products per float lane and instruction, see the BF16 section of {@code instella_kernels.c}): a
 * GEMM with 32-column panels of depth pairs for prefill and the vision tower, 1.4–2.2× the float GEMM's speed.
 * {@link MatMul} uses it only for the GEMM's row counts (more than {@link MatMul#GEMV_MAX_ROWS}): decode is
 * memory-bound, and the vdpbf16ps GEMV ({@link #linearNative} with few rows, kept and tested) measured 0.91–1.04× of
 * the float GEMV on the model's shapes, so decode keeps its float activations (and golden-exact steps). Elsewhere the same numerics are emulated: x rounded to BF16 and widened back, then the ordinary float
 * kernels (the products of two BF16 values are exact in float either way; the sums differ only in rounding order).
 */
public final class Bf16Dot {
    /** The system property that turns BF16 compute on ({@code true}/{@code 1}). */
    public static final String PROPERTY = "instella.bf16dot";
    /** The environment variable that turns it on when the property is absent. */
    public static final String ENV = "INSTELLA_BF16_DOT";

    private static volatile boolean enabled = initial();
    private static final String NATIVE_REASON = NativeKernels.bf16DotUnavailableReason();
    private static final boolean NATIVE = NATIVE_REASON == null;

    /** Panel width and depth of the native BF16 GEMM (instella_bf16dot_*: 32 columns, depth in pairs). */
    static final int NR = 32;
    static final int KC = 256;
    /** Output columns per parallel task. */
    static final int NC = 4 * NR;
    private static final int ROW_GRAIN = 64;

    private static final VectorSpecies<Float> F = Vectors.FLOAT;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 2)));

    /** Rounding to BF16 bits narrows ints to shorts: no short vector under 64 bits, so 64-bit floats round one by one. */
    private static final boolean VECTOR_BITS = F.vectorBitSize() >= 128;

    private static final ThreadLocal<int[]> SLAB = ThreadLocal.withInitial(() -> new int[NC * KC / 2]);
    private static final ThreadLocal<short[]> XB = ThreadLocal.withInitial(() -> new short[0]);
    private static final ThreadLocal<float[]> XR = ThreadLocal.withInitial(() -> new float[0]);

    private Bf16Dot() {}

    private static boolean initial() {
        String v = System.getProperty(PROPERTY, System.getenv().getOrDefault(ENV, "false")).trim().toLowerCase(Locale.ROOT);
        return v.equals("true") || v.equals("1") || v.equals("yes") || v.equals("on");
    }

    /** True when BF16 weights are multiplied with BF16-rounded activations (opt-in). */
    public static boolean enabled() { return enabled; }

    /** Turns BF16 compute on or off for the whole process (the CLI's {@code --bf16-compute}, tests). */
    public static void setEnabled(boolean on) { enabled = on; }

    /**
     * What BF16 weights run with: {@code off}, {@code native-avx512bf16} (vdpbf16ps) or {@code java (reason)} (the
     * float kernels on BF16-rounded activations).
     */
    public static String status() {
        if (!enabled) return "off";
        return NATIVE ? "native-avx512bf16" : "java (" + NATIVE_REASON + ")";
    }

    /**
     * out = round_bf16(x) · Wᵀ (+ bias) for a BF16 matrix W [m, k] and n rows of x; MatMul sends only the GEMM's row
     * counts here (prefill, vision tower), see the class comment.
     */
    static void linear(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        if (NATIVE && nativeShape(w, n)) linearNative(x, xOff, n, w, bias, out, outOff);
        else linearJava(x, xOff, n, w, bias, out, outOff);
    }

    /** The native kernels need k a multiple of 64 for the GEMV, even for the GEMM. */
    private static boolean nativeShape(Tensor w, int n) {
        long k = w.dim(1);
        return n <= MatMul.GEMV_MAX_ROWS ? k % 64 == 0 : k % 2 == 0;
    }

    /** The emulation: x rounded to BF16 and widened back, then the float kernels (any CPU, any vector width). */
    static void linearJava(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        int k = (int) w.dim(1);
        float[] xr = roundedFloats(x, xOff, n * k);
        if (n <= MatMul.GEMV_MAX_ROWS) Gemv.linear(xr, 0, n, w, bias, out, outOff);
        else Gemm.linear(xr, 0, n, w, bias, out, outOff);
    }

    /** vdpbf16ps: the GEMV for a few rows, the packed GEMM for more. Only where {@link #nativeAvailable()}. */
    static void linearNative(float[] x, int xOff, int n, Tensor w, float[] bias, float[] out, int outOff) {
        if (w.dtype() != DType.BF16) throw new IllegalArgumentException(w + " is not BF16");
        int m = (int) w.dim(0), k = (int) w.dim(1);
        checkOut(out, outOff, n, m, bias);
        short[] xb = roundedBits(x, xOff, n * k);
        if (n <= MatMul.GEMV_MAX_ROWS) {
            Parallel.forRange(m, ROW_GRAIN, (j0, j1) -> NativeKernels.bf16DotRows(w.data(), k, m, j0, j1, xb, n, bias, out, outOff));
            return;
        }
        int tasks = (m + NC - 1) / NC;
        Parallel.forRange(tasks, 1, (t0, t1) -> {
            int[] slab = SLAB.get();
            for (int task = t0; task < t1; task++) {
                int j0 = task * NC, cols = Math.min(NC, m - j0);
                for (int pc = 0; pc < k; pc += KC) {
                    int kc = Math.min(KC, k - pc);
                    NativeKernels.bf16DotPack(w.data(), k, j0, cols, pc, kc, slab);
                    NativeKernels.bf16DotSlab(xb, pc, k, n, slab, kc, cols, out, outOff + j0, m, pc == 0, bias, j0);
                }
            }
        });
    }

    /** True when the vdpbf16ps kernels run here (AVX-512 BF16 CPU, AVX-512 native build). */
    static boolean nativeAvailable() { return NATIVE; }

    /** The native kernels write without bounds checks: the output range and bias are checked here first. */
    private static void checkOut(float[] out, int outOff, int n, int m, float[] bias) {
        if (outOff < 0 || (long) outOff + (long) n * m > out.length) {
            throw new IndexOutOfBoundsException("output of " + n + " × " + m + " at " + outOff + " does not fit " + out.length);
        }
        if (bias != null && bias.length < m) throw new IndexOutOfBoundsException("bias of " + bias.length + " for " + m + " rows");
    }

    /** BF16 bits of f rounded to nearest even (torch's float → bfloat16; NaN becomes the quiet NaN 0x7FC0). */
    static short roundToBf16(float f) {
        if (f != f) return (short) 0x7FC0;
        int b = Float.floatToRawIntBits(f);
        return (short) ((b + 0x7FFF + ((b >>> 16) & 1)) >>> 16);
    }

    /** x[xOff .. xOff+count) rounded to BF16 bits, in a per-thread scratch (valid until the next call on this thread). */
    static short[] roundedBits(float[] x, int xOff, int count) {
        if (xOff < 0 || (long) xOff + count > x.length) throw new IndexOutOfBoundsException(count + " values at " + xOff + " of " + x.length);
        short[] xb = XB.get();
        if (xb.length < count) {
            xb = new short[count];
            XB.set(xb);
        }
        short[] dst = xb;
        int grain = Math.max(1, 65536 / I.length());
        int chunks = (count + I.length() * grain - 1) / (I.length() * grain);
        Parallel.forRange(chunks, 1, (c0, c1) -> {
            int from = c0 * I.length() * grain, to = Math.min(count, c1 * I.length() * grain);
            int i = from;
            for (; VECTOR_BITS && i + I.length() <= to; i += I.length()) {
                FloatVector f = FloatVector.fromArray(F, x, xOff + i);
                IntVector r = rounded(f).lanewise(VectorOperators.LSHR, 16);
                ((ShortVector) r.convertShape(VectorOperators.I2S, S, 0)).intoArray(dst, i);
            }
            for (; i < to; i++) dst[i] = roundToBf16(x[xOff + i]);
        });
        return xb;
    }

    /** x[xOff .. xOff+count) rounded to BF16 and widened back to float, in a per-thread scratch. */
    static float[] roundedFloats(float[] x, int xOff, int count) {
        if (xOff < 0 || (long) xOff + count > x.length) throw new IndexOutOfBoundsException(count + " values at " + xOff + " of " + x.length);
        float[] xr = XR.get();
        if (xr.length < count) {
            xr = new float[count];
            XR.set(xr);
        }
        int i = 0;
        for (; i + F.length() <= count; i += F.length()) {
            rounded(FloatVector.fromArray(F, x, xOff + i)).and(0xFFFF0000).reinterpretAsFloats().intoArray(xr, i);
        }
        for (; i < count; i++) xr[i] = Float.intBitsToFloat(roundToBf16(x[xOff + i]) << 16);
        return xr;
    }

    /** Float bits rounded to nearest even at bit 16 (the low 16 bits are garbage), NaN → 0x7FC0 in the high half. */
    private static IntVector rounded(FloatVector f) {
        IntVector b = f.reinterpretAsInts();
        IntVector r = b.add(0x7FFF).add(b.lanewise(VectorOperators.LSHR, 16).and(1));
        VectorMask<Integer> nan = f.test(VectorOperators.IS_NAN).cast(I);
        return r.blend(0x7FC00000, nan);
    }
}
