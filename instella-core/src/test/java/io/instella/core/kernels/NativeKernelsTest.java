package io.instella.core.kernels;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The native Q4_0/Q8_0 decode kernels against the Java ones (same int8 activations, so equal up to float
 * summation order) and against the dequantized float product. Where the machine should have them (Linux
 * x86-64 with AVX2 and gcc at build time, as CI), their absence under CI=true is a failure, not a skip.
 */
class NativeKernelsTest {
    static boolean expectedHere() {
        try {
            String flags = Files.readString(Path.of("/proc/cpuinfo"));
            return System.getProperty("os.arch", "").equals("amd64") && flags.contains(" avx2") && Files.exists(Path.of("/usr/bin/gcc"))
                    && !"java".equalsIgnoreCase(System.getProperty("instella.kernels", System.getenv().getOrDefault("INSTELLA_KERNELS", "auto")));
        } catch (Exception e) {
            return false;
        }
    }

    static void requireNative() {
        if (!NativeKernels.available() && "true".equals(System.getenv("CI")) && expectedHere()) {
            throw new AssertionError("native kernels expected on this machine but not in use: " + NativeKernels.status());
        }
        assumeTrue(NativeKernels.available(), "native kernels not in use here: " + NativeKernels.status());
    }

    @ParameterizedTest
    @CsvSource({"Q4_0, 37, 64, 1, false", "Q4_0, 130, 2048, 1, true", "Q4_0, 64, 96, 3, true", "Q4_0, 16, 8192, 4, false",
            "Q8_0, 37, 64, 1, false", "Q8_0, 130, 2048, 1, true", "Q8_0, 64, 96, 3, true", "Q8_0, 16, 8192, 4, false"})
    void matchesTheJavaKernelAndTheFloatProduct(DType type, int m, int k, int n, boolean withBias) {
        requireNative();
        SplittableRandom r = new SplittableRandom(m * 31L + k + n);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        float[] x = new float[n * k + 5];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] bias = withBias ? new float[m] : null;
        if (bias != null) for (int j = 0; j < m; j++) bias[j] = (float) r.nextGaussian();
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Quant.quantize(Tensor.ofFloats("w", w, m, k), type, arena);
            int xOff = 5, outOff = 3;
            float[] nativeOut = new float[outOff + n * m];
            Gemv.linear(x, xOff, n, q, bias, nativeOut, outOff);

            float[] javaOut = new float[n * m];
            Gemv.QuantizedActivations qa = Gemv.QuantizedActivations.of(x, xOff, n, k);
            for (int i = 0; i < n; i++) {
                if (type == DType.Q4_0) Gemv.q4RowsInt(q.data(), k, qa, i, 0, m, bias, javaOut, i * m);
                else Gemv.q8RowsInt(q.data(), k, qa, i, 0, m, bias, javaOut, i * m);
            }
            float[] deq = Quant.dequantizeAll(q);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < m; j++) {
                    double exact = bias == null ? 0 : bias[j], scale = 0;
                    for (int t = 0; t < k; t++) {
                        exact += (double) deq[j * k + t] * x[xOff + i * k + t];
                        scale += Math.abs((double) deq[j * k + t] * x[xOff + i * k + t]);
                    }
                    float got = nativeOut[outOff + i * m + j];
                    assertThat((double) got).as("token %d row %d vs the Java kernel", i, j)
                            .isCloseTo(javaOut[i * m + j], org.assertj.core.data.Offset.offset(1e-5 * (scale + 1)));
                    // int8 activations: about 0.4% of each product's magnitude at worst, far less on average.
                    assertThat((double) got).as("token %d row %d vs the float product", i, j)
                            .isCloseTo(exact, org.assertj.core.data.Offset.offset(0.01 * scale + 1e-4));
                }
            }
            assertThat(nativeOut[0]).isZero();
            assertThat(nativeOut[outOff - 1]).isZero();
        }
    }

    @Test
    void outputThatDoesNotFitIsRefusedBeforeTheNativeCall() {
        requireNative();
        float[] w = new float[8 * 64];
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Quant.quantize(Tensor.ofFloats("w", w, 8, 64), DType.Q4_0, arena);
            assertThatThrownBy(() -> Gemv.linear(new float[64], 0, 1, q, null, new float[7], 0))
                    .isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    @ParameterizedTest
    @CsvSource({"37, 64, false", "130, 2048, true", "8, 8192, true", "11, 4128, false"})
    void bf16KernelMatchesTheJavaKernel(int m, int k, boolean withBias) {
        requireNative();
        SplittableRandom r = new SplittableRandom(m * 7L + k);
        float[] w = new float[m * k], x = new float[k + 3];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] bias = withBias ? new float[m] : null;
        if (bias != null) for (int j = 0; j < m; j++) bias[j] = (float) r.nextGaussian();
        Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, io.instella.core.safetensors.SafeTensorsWriter.toBf16(w));
        float[] nativeOut = new float[m + 2];
        Gemv.linear(x, 3, 1, t, bias, nativeOut, 2);
        float[] javaOut = new float[m];
        Gemv.bf16Rows(t.data(), k, Gemv.splitEvenOdd(x, 3, 1, k), 0, 0, m, bias, javaOut, 0);
        for (int j = 0; j < m; j++) {
            double scale = 0;
            for (int i = 0; i < k; i++) scale += Math.abs((double) w[j * k + i] * x[3 + i]);
            assertThat((double) nativeOut[2 + j]).as("row %d", j).isCloseTo(javaOut[j], org.assertj.core.data.Offset.offset(1e-5 * scale));
        }
        assertThat(nativeOut[0]).isZero();
        assertThat(nativeOut[1]).isZero();
    }

    /**
     * The native GEMM slab loops are the Java ones compiled: the same FMA chains in the same order, so the results are
     * bit-identical — full and partial panels, 6-row tiles and leftover rows, first slab (bias or zero) and later ones.
     */
    @ParameterizedTest
    @CsvSource({"48, 128, 256, true, true", "53, 128, 256, false, false", "7, 37, 64, true, false",
            "100, 16, 5, false, true", "1, 130, 32, true, true", "97, 45, 256, false, true"})
    void gemmSlabKernelIsBitIdenticalToTheJavaLoops(int n, int cols, int kc, boolean first, boolean withBias) {
        requireNative();
        assumeTrue(NativeKernels.gemmPanelSupported(Gemm.NR), "no native GEMM kernel for panels of " + Gemm.NR + " in " + NativeKernels.status());
        SplittableRandom r = new SplittableRandom(n * 131L + cols * 7L + kc);
        int lda = kc + 11, ldc = cols + 9, aOff = 4, cOff = 6, j0 = 3;
        int panels = (cols + Gemm.NR - 1) / Gemm.NR;
        float[] a = new float[aOff + n * lda], slab = new float[panels * Gemm.NR * kc];
        float[] c0 = new float[cOff + n * ldc];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        for (int i = 0; i < slab.length; i++) slab[i] = (float) r.nextGaussian();
        for (int i = 0; i < c0.length; i++) c0[i] = (float) r.nextGaussian();
        float[] bias = null;
        if (withBias) {
            bias = new float[j0 + cols];
            for (int i = 0; i < bias.length; i++) bias[i] = (float) r.nextGaussian();
        }
        float[] javaC = c0.clone(), nativeC = c0.clone();
        Gemm.slab(a, aOff, lda, n, slab, kc, cols, javaC, cOff, ldc, first, bias, j0, new float[Gemm.MR * Gemm.NR]);
        NativeKernels.gemmSlab(a, aOff, lda, n, slab, kc, cols, nativeC, cOff, ldc, first, bias, j0);
        assertThat(nativeC).isEqualTo(javaC);
        assertThat(javaC).isNotEqualTo(c0);
    }

    /** Native BF16 packing writes exactly the Java packer's slab: whole and partial panels, depth tails, any offset. */
    @ParameterizedTest
    @CsvSource({"128, 256, 0, 128, 0, 256", "200, 96, 64, 120, 32, 64", "45, 70, 16, 29, 5, 61", "16, 8, 0, 16, 0, 8"})
    void bf16PackingIsBitIdenticalToTheJavaPacker(int m, int k, int j0, int cols, int pc, int kc) {
        requireNative();
        assumeTrue(NativeKernels.gemmPanelSupported(Gemm.NR), "no native GEMM kernel for panels of " + Gemm.NR + " in " + NativeKernels.status());
        SplittableRandom r = new SplittableRandom(m * 17L + k);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, io.instella.core.safetensors.SafeTensorsWriter.toBf16(w));
        int panels = (cols + Gemm.NR - 1) / Gemm.NR;
        float[] javaSlab = new float[panels * Gemm.NR * kc + 7], nativeSlab = new float[javaSlab.length];
        java.util.Arrays.fill(javaSlab, Float.NaN);
        java.util.Arrays.fill(nativeSlab, Float.NaN);
        Gemm.packJava(t.data(), DType.BF16, k, j0, cols, pc, kc, javaSlab, new float[kc]);
        NativeKernels.packBf16(t.data(), k, j0, cols, pc, kc, nativeSlab);
        assertThat(nativeSlab).isEqualTo(javaSlab);
        assertThat(javaSlab[panels * Gemm.NR * kc]).isNaN(); // nothing written past the panels
        assertThat(javaSlab[0]).isNotNaN();
    }

    /**
     * BF16 panels: the packed pairs, widened as the slab loops widen them (low half: column e, high half: column
     * e + NR/2), are exactly the Java packer's float slab — whole and partial panels, depth tails, offsets.
     */
    @ParameterizedTest
    @CsvSource({"128, 256, 0, 128, 0, 256", "200, 96, 64, 120, 32, 64", "45, 70, 16, 29, 5, 61", "16, 8, 0, 16, 0, 8",
            "300, 300, 37, 256, 44, 256"})
    void bf16PanelsHoldTheJavaPackersValuesInPairs(int m, int k, int j0, int cols, int pc, int kc) {
        requireNative();
        assumeTrue(NativeKernels.bf16PanelsSupported(), "no native BF16 panels for " + Gemm.NR + " columns in " + NativeKernels.status());
        SplittableRandom r = new SplittableRandom(m * 19L + k);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, io.instella.core.safetensors.SafeTensorsWriter.toBf16(w));
        int nr = Gemm.NR, h = nr / 2, panels = (cols + nr - 1) / nr;
        float[] javaSlab = new float[panels * nr * kc];
        Gemm.packJava(t.data(), DType.BF16, k, j0, cols, pc, kc, javaSlab, new float[kc]);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pairs = arena.allocate(2L * javaSlab.length + 64, 64);
            pairs.fill((byte) 0x7F);
            NativeKernels.packBf16Pairs(t.data(), k, j0, cols, pc, kc, pairs);
            float[] widened = new float[javaSlab.length];
            for (int p = 0; p < panels; p++) {
                for (int d = 0; d < kc; d++) {
                    for (int e = 0; e < h; e++) {
                        int pair = pairs.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4L * ((long) (p * kc + d) * h + e));
                        int at = (p * kc + d) * nr;
                        widened[at + e] = Float.intBitsToFloat(pair << 16);
                        widened[at + e + h] = Float.intBitsToFloat(pair & 0xFFFF0000);
                    }
                }
            }
            assertThat(widened).isEqualTo(javaSlab);
            assertThat(pairs.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2L * javaSlab.length)).as("nothing written past the panels").isEqualTo((byte) 0x7F);
        }
    }

    /**
     * The whole BF16 product on BF16 panels (MatMul's packed route where the native kernels load) is bit-identical to
     * the Java GEMM on float panels: every task, slab, tile and leftover row.
     */
    @ParameterizedTest
    @CsvSource({"32, 300, 520, true", "7, 64, 256, false", "577, 96, 1024, true", "13, 1000, 72, false", "6, 33, 17, true"})
    void bf16PanelGemmIsBitIdenticalToTheJavaGemm(int n, int m, int k, boolean withBias) {
        requireNative();
        assumeTrue(NativeKernels.bf16PanelsSupported(), "no native BF16 panels for " + Gemm.NR + " columns in " + NativeKernels.status());
        SplittableRandom r = new SplittableRandom(n * 7L + m * 31L + k);
        float[] w = new float[m * k], x = new float[2 + n * k], bias = withBias ? new float[m] : null;
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        if (bias != null) for (int i = 0; i < m; i++) bias[i] = (float) r.nextGaussian();
        Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, io.instella.core.safetensors.SafeTensorsWriter.toBf16(w));
        float[] expected = new float[1 + n * m], got = new float[1 + n * m];
        float[] slab = new float[Gemm.NC * Gemm.KC], row = new float[Gemm.KC], tile = new float[Gemm.MR * Gemm.NR];
        for (int j0 = 0; j0 < m; j0 += Gemm.NC) {
            int cols = Math.min(Gemm.NC, m - j0);
            for (int pc = 0; pc < k; pc += Gemm.KC) {
                int kc = Math.min(Gemm.KC, k - pc);
                Gemm.packJava(t.data(), DType.BF16, k, j0, cols, pc, kc, slab, row);
                Gemm.slab(x, 2 + pc, k, n, slab, kc, cols, expected, 1 + j0, m, pc == 0, bias, j0, tile);
            }
        }
        Gemm.linear(x, 2, n, t, bias, got, 1);
        assertThat(got).isEqualTo(expected);
        assertThat(got[0]).isZero();
    }

    /** Native Q8_0/Q4_0 packing writes exactly the Java packer's slab (same dequantized products). */
    @ParameterizedTest
    @CsvSource({"Q8_0, 128, 256, 0, 128, 0, 256", "Q8_0, 45, 96, 16, 29, 32, 64", "Q4_0, 128, 256, 0, 128, 0, 256",
            "Q4_0, 45, 96, 16, 29, 32, 64", "Q4_0, 200, 64, 64, 120, 0, 32"})
    void quantizedPackingIsBitIdenticalToTheJavaPacker(DType type, int m, int k, int j0, int cols, int pc, int kc) {
        requireNative();
        assumeTrue(NativeKernels.gemmPanelSupported(Gemm.NR), "no native GEMM kernel for panels of " + Gemm.NR + " in " + NativeKernels.status());
        SplittableRandom r = new SplittableRandom(m * 13L + k);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        try (Arena arena = Arena.ofShared()) {
            Tensor t = Quant.quantize(Tensor.ofFloats("w", w, m, k), type, arena);
            int panels = (cols + Gemm.NR - 1) / Gemm.NR;
            float[] javaSlab = new float[panels * Gemm.NR * kc + 5], nativeSlab = new float[javaSlab.length];
            java.util.Arrays.fill(javaSlab, Float.NaN);
            java.util.Arrays.fill(nativeSlab, Float.NaN);
            Gemm.packJava(t.data(), type, k, j0, cols, pc, kc, javaSlab, new float[kc]);
            NativeKernels.packQuantized(t.data(), type == DType.Q4_0, k, j0, cols, pc, kc, nativeSlab);
            assertThat(nativeSlab).isEqualTo(javaSlab);
            assertThat(javaSlab[0]).isNotNaN();
        }
    }

    /** One head's decode attention, native (F32 and F16 rows) against the Java kernel on the same values. */
    @ParameterizedTest
    @CsvSource({"1, 8", "7, 64", "9, 128", "300, 128", "577, 136"})
    void attentionKernelsMatchTheJavaKernel(int len, int hd) {
        requireNative();
        SplittableRandom r = new SplittableRandom(len * 13L + hd);
        int kvOff = 5 * hd;
        float[] q = new float[hd + 2], k = new float[kvOff + len * hd], v = new float[kvOff + len * hd];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        // Values exactly representable as halves, so the F16 path sees the same numbers.
        short[] k16 = new short[k.length], v16 = new short[v.length];
        Packing.narrowF16(k, 0, k16, 0, k.length);
        Packing.narrowF16(v, 0, v16, 0, v.length);
        Packing.widenF16(k16, 0, k, 0, k.length);
        Packing.widenF16(v16, 0, v, 0, v.length);
        float scale = (float) (1 / Math.sqrt(hd));
        float[] java = new float[hd], native32 = new float[hd + 1], native16 = new float[hd + 1];
        Attention.attendRow(q, 2, k, v, kvOff, hd, len, hd, scale, java, 0);
        Attention.attendHead(q, 2, k, v, kvOff, len, hd, scale, native32, 1);
        Attention.attendHead(q, 2, k16, v16, kvOff, len, hd, scale, native16, 1);
        for (int d = 0; d < hd; d++) {
            assertThat(native32[1 + d]).as("f32 d=%d", d).isCloseTo(java[d], org.assertj.core.data.Offset.offset(2e-5f));
            assertThat(native16[1 + d]).as("f16 d=%d", d).isCloseTo(java[d], org.assertj.core.data.Offset.offset(2e-5f));
        }
        assertThat(native32[0]).isZero();
    }

    @Test
    void attentionRangesThatDoNotFitAreRefusedBeforeTheNativeCall() {
        float[] q = new float[64], k = new float[64 * 10], out = new float[64];
        assertThatThrownBy(() -> Attention.attendHead(q, 0, k, k, 64, 10, 64, 1f, out, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Attention.attendHead(q, 8, k, k, 0, 10, 64, 1f, out, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Attention.attendHead(q, 0, new short[640], new short[639], 0, 10, 64, 1f, out, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
    }

    /** Q4_0 and Q8_0 rows interleaved by 8: the same values, and the same products as the plain kernels. */
    @ParameterizedTest
    @CsvSource({"Q4_0, 8, 32, 1", "Q4_0, 40, 288, 1", "Q4_0, 64, 2048, 3", "Q4_0, 16, 8192, 4",
                "Q8_0, 8, 32, 1", "Q8_0, 40, 288, 1", "Q8_0, 64, 2048, 3", "Q8_0, 16, 8192, 4", "Q8_0, 24, 96, 2"})
    void rowInterleavedMatchesPlain(DType type, int m, int k, int n) {
        SplittableRandom r = new SplittableRandom(m * 3L + k + n);
        float[] w = new float[m * k], x = new float[n * k + 1];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] bias = new float[m];
        for (int j = 0; j < m; j++) bias[j] = (float) r.nextGaussian();
        try (Arena arena = Arena.ofShared()) {
            Tensor plain = Quant.quantize(Tensor.ofFloats("w", w, m, k), type, arena);
            Tensor r8 = Quant.repackR8(plain, arena);
            assertThat(r8.dtype()).isEqualTo(type.interleaved());
            assertThat(r8.byteSize()).isEqualTo(plain.byteSize());
            assertThat(r8.toFloatArray()).containsExactly(plain.toFloatArray());
            float[] row = new float[k], expected = new float[k];
            for (int j = 0; j < m; j += 7) {
                Packing.widen(r8.data(), r8.dtype(), k, (long) j * k, row, 0, k);
                plain.copyRowsTo(j, 1, expected, 0);
                assertThat(row).as("row %d", j).containsExactly(expected);
            }
            // Prefill (GEMM) packs the interleaved blocks directly: bit-identical to the plain path (the packed GEMM and the int8 GEMM).
            int rows = 7;
            float[] gemmPlain = new float[rows * m], gemmR8 = new float[rows * m];
            float[] xs = java.util.Arrays.copyOf(x, rows * k);
            Gemm.linear(xs, 0, rows, plain, bias, gemmPlain, 0);
            Gemm.linear(xs, 0, rows, r8, bias, gemmR8, 0);
            assertThat(gemmR8).containsExactly(gemmPlain);
            MatMul.linear(xs, 0, rows, plain, bias, gemmPlain, 0);
            MatMul.linear(xs, 0, rows, r8, bias, gemmR8, 0);
            assertThat(gemmR8).containsExactly(gemmPlain);
            // Decode: the native 8-row kernel where it runs, else widened rows; against the plain result.
            float[] outPlain = new float[n * m], outR8 = new float[1 + n * m];
            Gemv.linear(x, 1, n, plain, bias, outPlain, 0);
            Gemv.linear(x, 1, n, r8, bias, outR8, 1);
            float[] deq = plain.toFloatArray();
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < m; j++) {
                    double scale = 1;
                    for (int t = 0; t < k; t++) scale += Math.abs((double) deq[j * k + t] * x[1 + i * k + t]);
                    // Both quantize x to int8 when native; the widened fallback uses float x (int8 error ~0.4%).
                    assertThat((double) outR8[1 + i * m + j]).as("token %d row %d", i, j)
                            .isCloseTo(outPlain[i * m + j], org.assertj.core.data.Offset.offset(0.01 * scale));
                    if (NativeKernels.available()) {
                        assertThat((double) outR8[1 + i * m + j]).isCloseTo(outPlain[i * m + j], org.assertj.core.data.Offset.offset(1e-5 * scale));
                    }
                }
            }
            assertThatThrownBy(() -> Quant.repackR8(Quant.quantize(Tensor.ofFloats("odd", new float[12 * 32], 12, 32), type, arena), arena))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void statusNamesTheKernelsInUse() {
        assertThat(NativeKernels.status()).matches(NativeKernels.available() ? "native-(avx512vnni|avx512|avxvnni|avx2|neondot|neon)" : "java \\(.+\\)");
    }
}
