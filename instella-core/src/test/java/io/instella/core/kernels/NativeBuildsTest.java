package io.instella.core.kernels;

import io.instella.core.kernels.NativeKernels.Isa;
import io.instella.core.kernels.NativeKernels.Library;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every native build bundled in the jar that this CPU can run, loaded side by side in one JVM (whichever one
 * {@link NativeKernels} chose): the integer dot products of the VNNI builds give exactly the AVX2 build's results,
 * the BF16 product and attention match the Java kernels, and the GEMM slab loops and packers for this JVM's panel
 * width are bit-identical to the Java ones. On this test's host, the builds a CPU cannot run are skipped; the
 * width-forced surefire executions (128/256/512 bits) cover the 16- and 32-column GEMM kernels.
 */
class NativeBuildsTest {
    private static final Map<Isa, Library> LOADED = new EnumMap<>(Isa.class);

    private static Library load(Isa isa) {
        List<Isa> runnable = NativeKernels.runnableHere();
        if (runnable.isEmpty() && "true".equals(System.getenv("CI")) && NativeKernelsTest.expectedHere()) {
            throw new AssertionError("native builds expected on this machine but none runs: " + NativeKernels.status());
        }
        assumeTrue(runnable.contains(isa), "this CPU (or build) cannot run the " + isa.id + " kernels");
        synchronized (LOADED) {
            return LOADED.computeIfAbsent(isa, i -> {
                try {
                    return new Library(i);
                } catch (Throwable t) {
                    throw new AssertionError("the " + i.id + " build did not load", t);
                }
            });
        }
    }

    @Test
    void theBestBuildTheCpuRunsIsChosenOrTheOneAskedFor() {
        String choice = System.getProperty("instella.kernels", System.getenv().getOrDefault("INSTELLA_KERNELS", "auto"))
                .toLowerCase(Locale.ROOT);
        List<Isa> runnable = NativeKernels.runnableHere();
        if (choice.equals("auto")) {
            assertThat(NativeKernels.status()).isEqualTo(runnable.isEmpty() ? NativeKernels.status() : "native-" + runnable.getFirst().id);
        } else if (choice.equals("java")) {
            assertThat(NativeKernels.status()).isEqualTo("java (chosen with instella.kernels=java)");
        } else if (runnable.contains(Isa.byId(choice))) {
            assertThat(NativeKernels.status()).isEqualTo("native-" + choice);
        } else {
            assertThat(NativeKernels.status()).startsWith("java (").contains(choice);
        }
        assertThat(NativeKernels.status()).matches("native-(avx512vnni|avx512|avxvnni|avx2|neondot|neon)|java \\(.+\\)");
    }

    @ParameterizedTest
    @EnumSource(Isa.class)
    void quantizedDotProductsAreBitIdenticalToTheAvx2Build(Isa isa) {
        Library lib = load(isa), base = load(Isa.AVX2);
        for (int[] shape : new int[][]{{96, 2048, 1}, {40, 96, 2}, {16, 8192, 3}}) {
            int m = shape[0], k = shape[1], n = shape[2];
            SplittableRandom r = new SplittableRandom(m * 31L + k);
            float[] w = new float[m * k], x = new float[n * k], bias = new float[m];
            for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < m; i++) bias[i] = (float) r.nextGaussian();
            Gemv.QuantizedActivations qa = Gemv.QuantizedActivations.of(x, 0, n, k);
            try (Arena arena = Arena.ofShared()) {
                Tensor q8 = Quant.quantize(Tensor.ofFloats("w", w, m, k), DType.Q8_0, arena);
                Tensor q4 = Quant.quantize(Tensor.ofFloats("w", w, m, k), DType.Q4_0, arena);
                Tensor r8 = Quant.repackR8(q4, arena), q8r8 = Quant.repackR8(q8, arena);
                float[] got = new float[n * m], want = new float[n * m];
                lib.q8_0Rows(q8.data(), k, m, 0, m, qa, n, bias, got, 0);
                base.q8_0Rows(q8.data(), k, m, 0, m, qa, n, bias, want, 0);
                assertThat(got).as("Q8_0 %s", Arrays.toString(shape)).containsExactly(want);
                lib.q4_0Rows(q4.data(), k, m, 0, m, qa, n, null, got, 0);
                base.q4_0Rows(q4.data(), k, m, 0, m, qa, n, null, want, 0);
                assertThat(got).as("Q4_0 %s", Arrays.toString(shape)).containsExactly(want);
                lib.q4_0R8Rows(r8.data(), k, m, 0, m / 8, qa, n, bias, got, 0);
                base.q4_0R8Rows(r8.data(), k, m, 0, m / 8, qa, n, bias, want, 0);
                assertThat(got).as("Q4_0_R8 %s", Arrays.toString(shape)).containsExactly(want);
                lib.q8_0R8Rows(q8r8.data(), k, m, 0, m / 8, qa, n, bias, got, 0);
                base.q8_0R8Rows(q8r8.data(), k, m, 0, m / 8, qa, n, bias, want, 0);
                assertThat(got).as("Q8_0_R8 %s", Arrays.toString(shape)).containsExactly(want);
                assertThat(want).isNotEqualTo(new float[n * m]);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Isa.class)
    void bf16ProductAndAttentionMatchTheJavaKernels(Isa isa) {
        Library lib = load(isa);
        // k = 96 and 4128: the 512-bit kernel's 32-value tail; 8192: four rows at a time, then 3 single rows.
        for (int[] shape : new int[][]{{13, 96}, {37, 2048}, {7, 8192}, {5, 4128}}) {
            int m = shape[0], k = shape[1];
            SplittableRandom r = new SplittableRandom(m * 7L + k);
            float[] w = new float[m * k], x = new float[k], bias = new float[m];
            for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < m; i++) bias[i] = (float) r.nextGaussian();
            Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, io.instella.core.safetensors.SafeTensorsWriter.toBf16(w));
            float[] got = new float[m + 1], java = new float[m];
            lib.bf16Rows(t.data(), k, 0, m, Gemv.splitEvenOdd(x, 0, 1, k, 8), bias, got, 1);
            Gemv.bf16Rows(t.data(), k, Gemv.splitEvenOdd(x, 0, 1, k), 0, 0, m, bias, java, 0);
            for (int j = 0; j < m; j++) {
                double scale = 1;
                for (int i = 0; i < k; i++) scale += Math.abs((double) w[j * k + i] * x[i]);
                assertThat((double) got[1 + j]).as("%s row %d", Arrays.toString(shape), j).isCloseTo(java[j], offset(1e-5 * scale));
            }
            assertThat(got[0]).isZero();
        }
        for (int[] shape : new int[][]{{7, 64}, {300, 128}, {33, 136}}) {
            int len = shape[0], hd = shape[1];
            SplittableRandom r = new SplittableRandom(len * 13L + hd);
            float[] q = new float[hd], k = new float[len * hd], v = new float[len * hd];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) r.nextGaussian();
                v[i] = (float) r.nextGaussian();
            }
            float scale = (float) (1 / Math.sqrt(hd));
            float[] java = new float[hd], got = new float[hd];
            Attention.attendRow(q, 0, k, v, 0, hd, len, hd, scale, java, 0);
            lib.attendF32(q, 0, k, 0, v, 0, len, hd, scale, new float[len + 8], got, 0);
            for (int d = 0; d < hd; d++) assertThat(got[d]).as("len %d hd %d d %d", len, hd, d).isCloseTo(java[d], offset(2e-5f));
        }
    }

    /** At this JVM's panel width (Gemm.NR: 16 at 256-bit vectors, 32 at 512-bit), where the build has that kernel. */
    @ParameterizedTest
    @EnumSource(Isa.class)
    void gemmSlabLoopsAndPackersAreBitIdenticalToTheJavaOnes(Isa isa) {
        Library lib = load(isa);
        int nr = Gemm.NR;
        assumeTrue(isa.hasGemmPanel(nr), "the " + isa.id + " build has no GEMM kernel for panels of " + nr);
        for (int[] shape : new int[][]{{48, 128, 256, 1}, {53, 100, 256, 0}, {7, 37, 64, 1}, {97, 45, 200, 0}}) {
            int n = shape[0], cols = shape[1], kc = shape[2];
            boolean first = shape[3] == 1;
            SplittableRandom r = new SplittableRandom(n * 131L + cols * 7L + kc);
            int lda = kc + 11, ldc = cols + 9, j0 = 3, panels = (cols + nr - 1) / nr;
            float[] a = new float[n * lda], slab = new float[panels * nr * kc], c0 = new float[n * ldc], bias = new float[j0 + cols];
            for (float[] f : new float[][]{a, slab, c0, bias}) for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
            float[] javaC = c0.clone(), nativeC = c0.clone();
            Gemm.slab(a, 0, lda, n, slab, kc, cols, javaC, 0, ldc, first, bias, j0, new float[Gemm.MR * nr]);
            lib.gemmSlab(nr, a, 0, lda, n, slab, kc, cols, nativeC, 0, ldc, first, bias, j0);
            assertThat(nativeC).as("slab %s", Arrays.toString(shape)).isEqualTo(javaC);
        }
        int m = 77, k = 256, j0 = 5, cols = 70, pc = 32, kc = 192;
        SplittableRandom r = new SplittableRandom(99);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        int size = (cols + nr - 1) / nr * nr * kc;
        try (Arena arena = Arena.ofShared()) {
            Tensor bf16 = new Tensor("w", DType.BF16, new long[]{m, k}, io.instella.core.safetensors.SafeTensorsWriter.toBf16(w));
            for (Tensor t : new Tensor[]{bf16, Quant.quantize(Tensor.ofFloats("w", w, m, k), DType.Q8_0, arena),
                    Quant.quantize(Tensor.ofFloats("w", w, m, k), DType.Q4_0, arena)}) {
                float[] javaSlab = new float[size], nativeSlab = new float[size];
                Arrays.fill(nativeSlab, Float.NaN);
                Gemm.packJava(t.data(), t.dtype(), k, j0, cols, pc, kc, javaSlab, new float[kc]);
                if (t.dtype() == DType.BF16) lib.packBf16(nr, t.data(), k, j0, cols, pc, kc, nativeSlab);
                else lib.packQuantized(nr, t.data(), t.dtype() == DType.Q4_0, k, j0, cols, pc, kc, nativeSlab);
                assertThat(nativeSlab).as("packing %s", t.dtype()).isEqualTo(javaSlab);
            }
            // BF16 panels (where the build has them): packed pairs + their slab loops = Java packer + Java slab loops.
            if (lib.hasBf16Panels(nr)) {
                float[] javaSlab = new float[size];
                Gemm.packJava(bf16.data(), DType.BF16, k, j0, cols, pc, kc, javaSlab, new float[kc]);
                MemorySegment pairs = arena.allocate(2L * size, 64);
                lib.packBf16Pairs(nr, bf16.data(), k, j0, cols, pc, kc, pairs);
                for (int n : new int[]{1, 6, 17, 48}) {
                    int lda = kc + 3, ldc = cols + 5;
                    float[] a = new float[n * lda], c0 = new float[n * ldc], bias = new float[j0 + cols];
                    for (float[] f : new float[][]{a, c0, bias}) for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
                    for (boolean first : new boolean[]{true, false}) {
                        float[] javaC = c0.clone(), nativeC = c0.clone();
                        Gemm.slab(a, 0, lda, n, javaSlab, kc, cols, javaC, 0, ldc, first, bias, j0, new float[Gemm.MR * nr]);
                        lib.gemmSlabBf16(nr, a, 0, lda, n, pairs, kc, cols, nativeC, 0, ldc, first, bias, j0);
                        assertThat(nativeC).as("BF16 panels, %d rows, first %s", n, first).isEqualTo(javaC);
                    }
                }
            }
        }
    }
}
