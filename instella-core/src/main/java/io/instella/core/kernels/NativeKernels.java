package io.instella.core.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The optional native decode kernels ({@code src/main/c/instella_kernels.c}, built by the Maven build where gcc
 * is present and bundled as a resource):
 * <ul>
 *   <li>Q4_0/Q8_0 matrix-vector products: x86's 8-bit dot-product instructions, which the Vector API cannot
 *       express, make them faster than the Java kernels (measured on 2 cores: Q4_0 1.9×, Q8_0 1.3×);</li>
 *   <li>the Q4_0 product on rows interleaved by eight ({@code Q4_0_R8}, repacked at load): 8 rows per
 *       integer dot product, a fraction of the instructions per block;</li>
 *   <li>BF16 matrix-vector product (13–17% over the Java kernel across the model's layers: rows longer than
 *       4096 go four at a time, sharing the loads of x);</li>
 *   <li>the GEMM's loops over one packed slab of widened weights (prefill, vision tower): the Java loops
 *       compiled for AVX2 without bounds checks, bit-identical results; and the packing of BF16, Q8_0 and Q4_0
 *       weights into that slab, 8×8 blocks widened (dequantized) and transposed in registers;</li>
 *   <li>decode attention over a head-major F32 or F16 KV cache: rows read front to back with F16C widening
 *       (at 576 positions, 16 layers: F32 about 2× the Java kernel's speed, F16 twice that again).</li>
 * </ul>
 * See the module README for the figures. Used only on Linux x86-64 with
 * AVX2, FMA and F16C, and only when the library loads; otherwise, or with {@code -Dinstella.kernels=java} (or {@code INSTELLA_KERNELS=java}),
 * the Java Vector API kernels run, which give the same results up to float summation order.
 * <p>
 * Calls are "critical" downcalls: heap arrays are passed in place (no copies) and the calls are short
 * (one range of rows of one matrix, or one GEMM slab: well under a few milliseconds), as the FFM API requires
 * for that mode.
 */
public final class NativeKernels {
    private static final String RESOURCE = "/io/instella/core/kernels/native/linux-x86_64/libinstella_kernels.so";
    private static final MethodHandle Q4_0_ROWS;
    private static final MethodHandle Q8_0_ROWS;
    private static final MethodHandle Q4_0_R8_ROWS;
    private static final MethodHandle REPACK_Q4_0_R8;
    private static final MethodHandle BF16_ROWS;
    private static final MethodHandle ATTEND_F32;
    private static final MethodHandle ATTEND_F16;
    private static final MethodHandle GEMM_SLAB;
    private static final MethodHandle PACK_BF16;
    private static final MethodHandle PACK_Q8_0;
    private static final MethodHandle PACK_Q4_0;
    private static final String STATUS;
    /** The library version this class expects ({@code instella_kernels_version}). */
    private static final int VERSION = 7;

    static {
        MethodHandle q4 = null, q8 = null, q4r8 = null, repack = null, bf = null, a32 = null, a16 = null, gemm = null, pack = null, packQ8 = null, packQ4 = null;
        String status;
        try {
            String why = unsupportedReason();
            if (why != null) {
                status = "java (" + why + ")";
            } else {
                SymbolLookup lib = SymbolLookup.libraryLookup(extract(), Arena.global());
                Linker linker = Linker.nativeLinker();
                Linker.Option critical = Linker.Option.critical(true);
                MethodHandle version = linker.downcallHandle(lib.findOrThrow("instella_kernels_version"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT));
                int v = (int) version.invokeExact();
                if (v != VERSION) throw new IllegalStateException("library version " + v + ", expected " + VERSION);
                ValueLayout A = ValueLayout.ADDRESS, L = ValueLayout.JAVA_LONG, I = ValueLayout.JAVA_INT;
                q4 = linker.downcallHandle(lib.findOrThrow("instella_q4_0_rows"),
                        FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, A, I, A, A), critical);
                q8 = linker.downcallHandle(lib.findOrThrow("instella_q8_0_rows"),
                        FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, I, A, A), critical);
                q4r8 = linker.downcallHandle(lib.findOrThrow("instella_q4_0_r8_rows"),
                        FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, A, I, A, A), critical);
                repack = linker.downcallHandle(lib.findOrThrow("instella_repack_q4_0_r8"),
                        FunctionDescriptor.ofVoid(A, A, L, I, I), critical);
                bf = linker.downcallHandle(lib.findOrThrow("instella_bf16_rows"),
                        FunctionDescriptor.ofVoid(A, L, I, I, A, A, A), critical);
                FunctionDescriptor attend = FunctionDescriptor.ofVoid(A, A, A, I, I, ValueLayout.JAVA_FLOAT, A, A);
                a32 = linker.downcallHandle(lib.findOrThrow("instella_attend_f32"), attend, critical);
                a16 = linker.downcallHandle(lib.findOrThrow("instella_attend_f16"), attend, critical);
                gemm = linker.downcallHandle(lib.findOrThrow("instella_gemm_slab"),
                        FunctionDescriptor.ofVoid(A, L, I, A, I, I, A, L, I, A), critical);
                FunctionDescriptor packing = FunctionDescriptor.ofVoid(A, L, I, I, I, I, A);
                pack = linker.downcallHandle(lib.findOrThrow("instella_pack_bf16"), packing, critical);
                packQ8 = linker.downcallHandle(lib.findOrThrow("instella_pack_q8_0"), packing, critical);
                packQ4 = linker.downcallHandle(lib.findOrThrow("instella_pack_q4_0"), packing, critical);
                status = "native-avx2";
            }
        } catch (Throwable t) {
            q4 = null;
            q8 = null;
            q4r8 = null;
            repack = null;
            bf = null;
            a32 = null;
            a16 = null;
            gemm = null;
            pack = null;
            packQ8 = null;
            packQ4 = null;
            status = "java (native kernels did not load: " + t.getMessage() + ")";
        }
        Q4_0_ROWS = q4;
        Q8_0_ROWS = q8;
        Q4_0_R8_ROWS = q4r8;
        REPACK_Q4_0_R8 = repack;
        BF16_ROWS = bf;
        ATTEND_F32 = a32;
        ATTEND_F16 = a16;
        GEMM_SLAB = gemm;
        PACK_BF16 = pack;
        PACK_Q8_0 = packQ8;
        PACK_Q4_0 = packQ4;
        STATUS = status;
    }

    private NativeKernels() {}

    /** True when the native Q4_0/Q8_0 kernels are in use. */
    public static boolean available() { return Q4_0_ROWS != null; }

    /** Which quantized decode kernels run: {@code native-avx2}, or {@code java (reason)}. */
    public static String status() { return STATUS; }

    private static String unsupportedReason() {
        String choice = System.getProperty("instella.kernels", System.getenv().getOrDefault("INSTELLA_KERNELS", "auto"));
        if (choice.equalsIgnoreCase("java")) return "chosen with instella.kernels=java";
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) return "not Linux x86-64";
        if (NativeKernels.class.getResource(RESOURCE) == null) return "built without the native library (no gcc at build time)";
        String flags;
        try {
            flags = Files.readString(Path.of("/proc/cpuinfo")).lines().filter(l -> l.startsWith("flags")).findFirst().orElse("");
        } catch (IOException e) {
            return "cannot read /proc/cpuinfo";
        }
        for (String need : new String[]{"avx2", "fma", "f16c"}) {
            if (!(" " + flags + " ").contains(" " + need + " ")) return "CPU lacks " + need;
        }
        return null;
    }

    /** Copies the bundled library to a temporary file (a library inside a jar cannot be mapped). */
    private static Path extract() throws IOException {
        Path tmp = Files.createTempFile("instella-kernels-", ".so");
        tmp.toFile().deleteOnExit();
        try (InputStream in = NativeKernels.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IOException(RESOURCE + " is missing");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }

    /**
     * out[outOff + i*m + j] = W[j]·x_i (+ bias[j]) for rows [j0, j1) of a Q4_0 matrix W [m, k] and the n
     * tokens of {@code qa}.
     */
    static void q4_0Rows(MemorySegment w, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                         float[] bias, float[] out, int outOff) {
        try {
            Q4_0_ROWS.invokeExact(w, (long) k, (long) m, j0, j1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                    MemorySegment.ofArray(qa.sums), n, (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias)),
                    MemorySegment.ofArray(out).asSlice(4L * outOff));
        } catch (Throwable t) {
            throw new IllegalStateException("native Q4_0 kernel failed", t);
        }
    }

    /**
     * As {@link #q4_0Rows} for a {@code Q4_0_R8} matrix (rows interleaved by 8), row groups [g0, g1): rows
     * 8·g0 .. 8·g1.
     */
    static void q4_0R8Rows(MemorySegment w, int k, int m, int g0, int g1, Gemv.QuantizedActivations qa, int n,
                           float[] bias, float[] out, int outOff) {
        try {
            Q4_0_R8_ROWS.invokeExact(w, (long) k, (long) m, g0, g1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                    MemorySegment.ofArray(qa.sums), n, (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias)),
                    MemorySegment.ofArray(out).asSlice(4L * outOff));
        } catch (Throwable t) {
            throw new IllegalStateException("native Q4_0_R8 kernel failed", t);
        }
    }

    /** As {@link #q4_0Rows} for a Q8_0 matrix. */
    static void q8_0Rows(MemorySegment w, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                         float[] bias, float[] out, int outOff) {
        try {
            Q8_0_ROWS.invokeExact(w, (long) k, (long) m, j0, j1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                    n, (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias)),
                    MemorySegment.ofArray(out).asSlice(4L * outOff));
        } catch (Throwable t) {
            throw new IllegalStateException("native Q8_0 kernel failed", t);
        }
    }

    /**
     * Decode attention for one query row of one head over {@code len} contiguous key/value rows of hd floats
     * ({@code k[kOff..]}, {@code v[vOff..]}); see {@link Attention#attendHead}. Bounds are the caller's to check.
     */
    static void attendF32(float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, int len, int hd, float scale,
                          float[] scores, float[] out, int outOff) {
        try {
            ATTEND_F32.invokeExact(MemorySegment.ofArray(q).asSlice(4L * qOff), MemorySegment.ofArray(k).asSlice(4L * kOff),
                    MemorySegment.ofArray(v).asSlice(4L * vOff), len, hd, scale, MemorySegment.ofArray(scores),
                    MemorySegment.ofArray(out).asSlice(4L * outOff));
        } catch (Throwable t) {
            throw new IllegalStateException("native attention kernel failed", t);
        }
    }

    /** As {@link #attendF32} for keys and values stored as IEEE half floats. */
    static void attendF16(float[] q, int qOff, short[] k, int kOff, short[] v, int vOff, int len, int hd, float scale,
                          float[] scores, float[] out, int outOff) {
        try {
            ATTEND_F16.invokeExact(MemorySegment.ofArray(q).asSlice(4L * qOff), MemorySegment.ofArray(k).asSlice(2L * kOff),
                    MemorySegment.ofArray(v).asSlice(2L * vOff), len, hd, scale, MemorySegment.ofArray(scores),
                    MemorySegment.ofArray(out).asSlice(4L * outOff));
        } catch (Throwable t) {
            throw new IllegalStateException("native attention kernel failed", t);
        }
    }

    /** out[outOff + j] = W[j]·x (+ bias[j]) for rows [j0, j1) of a BF16 matrix W [m, k], x split even/odd per 16. */
    static void bf16Rows(MemorySegment w, int k, int j0, int j1, float[] xs, float[] bias, float[] out, int outOff) {
        try {
            BF16_ROWS.invokeExact(w, (long) k, j0, j1, MemorySegment.ofArray(xs),
                    (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias)),
                    MemorySegment.ofArray(out).asSlice(4L * outOff));
        } catch (Throwable t) {
            throw new IllegalStateException("native BF16 kernel failed", t);
        }
    }

    /**
     * C[n × cols] (+)= A[n × kc] · slab for one packed GEMM slab (see Gemm.slab, whose loops this is): a[aOff] is
     * A[0][pc] (row stride lda), c[cOff] is C[0][j0] (row stride ldc), bias read from index j0.
     */
    static void gemmSlab(float[] a, int aOff, int lda, int n, float[] slab, int kc, int cols, float[] c, int cOff,
                         int ldc, boolean first, float[] bias, int j0) {
        try {
            GEMM_SLAB.invokeExact(MemorySegment.ofArray(a).asSlice(4L * aOff), (long) lda, n, MemorySegment.ofArray(slab),
                    kc, cols, MemorySegment.ofArray(c).asSlice(4L * cOff), (long) ldc, first ? 1 : 0,
                    (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias).asSlice(4L * j0)));
        } catch (Throwable t) {
            throw new IllegalStateException("native GEMM kernel failed", t);
        }
    }

    /**
     * Packs BF16 weight rows [j0, j0+cols) × depth [pc, pc+kc) of W [m, k] into the GEMM's panels of 16 rows (see
     * Gemm.pack): slab[p][t][q] = W[j0 + 16p + q][pc + t] as float, zero past the last row.
     */
    static void packBf16(MemorySegment w, int k, int j0, int cols, int pc, int kc, float[] slab) {
        try {
            PACK_BF16.invokeExact(w, (long) k, j0, cols, pc, kc, MemorySegment.ofArray(slab));
        } catch (Throwable t) {
            throw new IllegalStateException("native BF16 packing failed", t);
        }
    }

    /** As {@link #packBf16} for a Q8_0 or Q4_0 matrix (pc and kc multiples of 32), dequantized as {@code Packing} does. */
    static void packQuantized(MemorySegment w, boolean q4, int k, int j0, int cols, int pc, int kc, float[] slab) {
        try {
            (q4 ? PACK_Q4_0 : PACK_Q8_0).invokeExact(w, (long) k, j0, cols, pc, kc, MemorySegment.ofArray(slab));
        } catch (Throwable t) {
            throw new IllegalStateException("native " + (q4 ? "Q4_0" : "Q8_0") + " packing failed", t);
        }
    }

    /**
     * Repacks row groups [g0, g1) of a Q4_0 matrix with rows of k values into Q4_0_R8 ({@code Quant.repackQ4_0R8}
     * checks the shapes and sizes first).
     */
    public static void repackQ4_0R8(MemorySegment src, MemorySegment dst, int k, int g0, int g1) {
        try {
            REPACK_Q4_0_R8.invokeExact(src, dst, (long) k, g0, g1);
        } catch (Throwable t) {
            throw new IllegalStateException("native Q4_0 repack failed", t);
        }
    }
}
