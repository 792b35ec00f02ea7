package io.instella.core.kernels;

import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Writes inputs and the Java twins' outputs ({@link Int8Gemm#rows}, {@link SmallGemm#rows} at this JVM's float vector
 * length) to a file that the C driver src/test/c/kernels_test.c reads ({@code kernels_test CASES}): it runs the native
 * int8 GEMM and small-prompt kernel of the build it is compiled with on the same inputs and requires bit-identical
 * outputs. Run in a child JVM by the crossbuild Aarch64KernelsTest, with -Dinstella.vector.bits=128 (the 4 lanes of
 * NEON, the default on aarch64) and 256 (8 lanes).
 * <p>
 * Format, little-endian: "ITWN", int count, then per case int kind (0: int8 GEMM, 1: small-prompt product) and
 * <ul>
 *   <li>int8: int type (0 Q8_0, 1 Q4_0, 2 Q4_0_R8, 3 Q8_0_R8), m, k, n, hasBias; int weight bytes and the weights; xq (n·k
 *       bytes), xd (n·k/32 floats), xs (n·k/32 ints), the bias (m floats, if any), the output (n·m floats);</li>
 *   <li>small: int lanes, m, k, n, j0, j1, ldx, hasBias; the BF16 weights (m·k shorts); the split activations (n·ldx
 *       floats); the bias (m floats, if any); the output (n·m floats, zero outside rows [j0, j1)).</li>
 * </ul>
 */
public final class PrefillTwinCases {
    private PrefillTwinCases() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 1) throw new IllegalArgumentException("usage: PrefillTwinCases OUTPUT_FILE");
        Path file = Path.of(args[0]);
        int[][] int8 = {{0, 40, 96, 5, 1}, {0, 37, 64, 17, 0}, {1, 40, 160, 9, 0}, {1, 37, 32, 3, 1}, {2, 24, 128, 6, 1},
                {2, 40, 64, 13, 0}, {3, 24, 96, 5, 1}, {3, 40, 64, 13, 0}};
        int[][] small = {{19, 100, 5, 1, 18, 1}, {21, 1030, 16, 0, 21, 0}, {8, 7, 3, 0, 8, 1}, {12, 64, 12, 2, 12, 0}};
        try (Arena arena = Arena.ofShared();
             OutputStream os = new BufferedOutputStream(Files.newOutputStream(file))) {
            Out out = new Out(os);
            out.os.write("ITWN".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            out.i32(int8.length + small.length);
            for (int[] c : int8) int8Case(out, arena, c[0], c[1], c[2], c[3], c[4] == 1);
            for (int[] c : small) smallCase(out, c[0], c[1], c[2], c[3], c[4], c[5] == 1);
        }
    }

    private static float[] gaussian(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    private static void int8Case(Out out, Arena arena, int type, int m, int k, int n, boolean withBias) throws IOException {
        SplittableRandom r = new SplittableRandom(type * 1009L + m * 31L + k * 7L + n);
        float[] w = gaussian(r, m * k, 0.05), x = gaussian(r, n * k, 1), bias = withBias ? gaussian(r, m, 1) : null;
        Tensor f = Tensor.ofFloats("w", w, m, k);
        DType dt = switch (type) { case 0 -> DType.Q8_0; case 1 -> DType.Q4_0; case 2 -> DType.Q4_0_R8; default -> DType.Q8_0_R8; };
        Tensor q = dt.isInterleaved() ? Quant.repackR8(Quant.quantize(f, dt.plain(), arena), arena) : Quant.quantize(f, dt, arena);
        Gemv.QuantizedActivations qa = Gemv.QuantizedActivations.of(x, 0, n, k);
        float[] result = new float[n * m];
        Int8Gemm.rows(q.data(), dt, k, m, 0, m, qa, n, bias, result, 0);
        int blocks = n * k / 32;
        out.i32(0);
        out.ints(type, m, k, n, withBias ? 1 : 0);
        byte[] wb = q.data().toArray(ValueLayout.JAVA_BYTE);
        out.i32(wb.length);
        out.os.write(wb);
        out.os.write(qa.q8, 0, n * k);
        out.floats(qa.d, blocks);
        for (int b = 0; b < blocks; b++) out.i32(qa.sums[b]);
        if (bias != null) out.floats(bias, m);
        out.floats(result, n * m);
    }

    private static void smallCase(Out out, int m, int k, int n, int j0, int j1, boolean withBias) throws IOException {
        SplittableRandom r = new SplittableRandom(m * 17L + k * 5L + n);
        float[] w = gaussian(r, m * k, 1), x = gaussian(r, n * k, 1), bias = withBias ? gaussian(r, m, 1) : null;
        Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, SafeTensorsWriter.toBf16(w));
        int ldx = k + 16;
        MemorySegment xs = SmallGemm.split(x, 0, n, k, ldx);
        float[] result = new float[n * m];
        SmallGemm.rows(t.data(), k, m, j0, j1, xs, ldx, n, bias, result, 0);
        out.i32(1);
        out.ints(Vectors.FLOAT.length(), m, k, n, j0, j1, ldx, withBias ? 1 : 0);
        out.os.write(t.data().toArray(ValueLayout.JAVA_BYTE));
        out.floats(xs.asSlice(0, 4L * n * ldx).toArray(ValueLayout.JAVA_FLOAT), n * ldx);
        if (bias != null) out.floats(bias, m);
        out.floats(result, n * m);
    }

    /** Little-endian ints and floats (float bits as stored: no NaN canonicalisation). */
    private record Out(OutputStream os) {
        void i32(int v) throws IOException {
            os.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
        }

        void ints(int... v) throws IOException {
            for (int i : v) i32(i);
        }

        void floats(float[] a, int count) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(4 * count).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) b.putInt(Float.floatToRawIntBits(a[i]));
            os.write(b.array());
        }
    }
}
