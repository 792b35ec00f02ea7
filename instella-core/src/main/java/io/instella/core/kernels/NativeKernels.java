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
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The optional native decode kernels ({@code src/main/c/instella_kernels.c}, built by the Maven build where gcc
 * is present and bundled as a resource):
 * <ul>
 *   <li>Q4_0/Q8_0 matrix-vector products: x86's 8-bit dot-product instructions, which the Vector API cannot
 *       express, make them faster than the Java kernels (measured on 2 cores: Q4_0 1.9×, Q8_0 1.3×);</li>
 *   <li>the Q4_0 and Q8_0 products on rows interleaved by eight ({@code Q4_0_R8}, {@code Q8_0_R8}, repacked at
 *       load): 8 rows per integer dot product, a fraction of the instructions per block;</li>
 *   <li>BF16 matrix-vector product (13–17% over the Java kernel across the model's layers: rows longer than
 *       4096 go four at a time, sharing the loads of x);</li>
 *   <li>the GEMM's loops over one packed slab of widened weights (prefill, vision tower): the Java loops
 *       compiled for AVX2 without bounds checks, bit-identical results; and the packing of BF16, Q8_0 and Q4_0
 *       weights into that slab, 8×8 blocks widened (dequantized) and transposed in registers;</li>
 *   <li>the int8 GEMM for Q8_0/Q4_0 weights and their R8 layouts (prefill, vision tower: weights read in place, 8 rows per
 *       vpdpbusd/vpmaddubsw against broadcast int8 activations) and the small-prompt BF16 product (up to
 *       {@code MatMul.SMALL_MAX_ROWS} rows, weights read in place), bit-identical to their Java twins {@code Int8Gemm}
 *       and {@code SmallGemm} (the aarch64 builds too: sdot or widening multiplies, 4 or 8 float lanes);</li>
 *   <li>decode attention over a head-major F32 or F16 KV cache: rows read front to back with F16C widening
 *       (at 576 positions, 16 layers: F32 about 2× the Java kernel's speed, F16 twice that again).</li>
 * </ul>
 * See the module README for the figures. One build per instruction set is bundled ({@link Isa}); on Linux x86-64
 * the best one whose {@code /proc/cpuinfo} flags the CPU has is loaded (falling back down the list if one fails to
 * load), on Linux aarch64 likewise from the "Features" line ({@code src/main/c/instella_kernels_aarch64.c}: neondot,
 * neon). {@code -Dinstella.kernels=avx512vnni|avx512|avxvnni|avx2} (or {@code INSTELLA_KERNELS}) asks for one build
 * (the Java kernels run if the CPU cannot run it), {@code java} for none; without any, the Java Vector API kernels
 * run, which give the same results up to float summation order (the GEMM slab loops: bit-identical).
 * <p>
 * Calls are "critical" downcalls: heap arrays are passed in place (no copies) and the calls are short
 * (one range of rows of one matrix, or one GEMM slab: well under a few milliseconds), as the FFM API requires
 * for that mode.
 */
public final class NativeKernels {
    /**
     * The builds bundled in the jar, best first: each one's name ({@code -Dinstella.kernels=NAME} forces it) and
     * the {@code /proc/cpuinfo} flags it needs (its gcc {@code -m} flags, see the native-kernels profile in pom.xml).
     */
    enum Isa {
        /** AVX-512 F/BW/VL/DQ and VNNI: 512-bit GEMM slab loops (NR = 32), vpdpbusd dot products. */
        AVX512VNNI("avx512vnni", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"),
        /** AVX-512 F/BW/VL/DQ: 512-bit GEMM slab loops (NR = 32). */
        AVX512("avx512", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"),
        /** AVX-VNNI (256-bit vpdpbusd, e.g. Intel Alder Lake and later without AVX-512). */
        AVXVNNI("avxvnni", "avx2", "fma", "f16c", "avx_vnni"),
        /** The base build: AVX2, FMA, F16C. */
        AVX2("avx2", "avx2", "fma", "f16c"),
        /** aarch64 with the dot-product extension (ARMv8.2 dotprod: sdot), e.g. Graviton 2+, Ampere Altra, Apple M. */
        NEONDOT("neondot", "asimd", "asimddp"),
        /** aarch64 base: NEON (Advanced SIMD), widening multiplies for the int8 dot products. */
        NEON("neon", "asimd");

        final String id;
        final List<String> cpuFlags;

        Isa(String id, String... cpuFlags) {
            this.id = id;
            this.cpuFlags = List.of(cpuFlags);
        }

        /** True for the aarch64 builds (instella_kernels_aarch64.c), false for the x86-64 ones. */
        boolean aarch64() { return id.startsWith("neon"); }

        String resource() {
            return "/io/instella/core/kernels/native/" + (aarch64() ? "linux-aarch64" : "linux-x86_64") + "/libinstella_kernels_" + id + ".so";
        }

        /** True when this build is for the architecture this JVM runs on. */
        boolean forThisArch() { return aarch64() == isAarch64(); }

        /** The first flag this build needs that the CPU lacks, or null. */
        String missingFlag(Set<String> cpu) {
            return cpuFlags.stream().filter(f -> !cpu.contains(f)).findFirst().orElse(null);
        }

        /** Float lane counts (the Java kernels' vector length) with a native small-prompt BF16 kernel in this build. */
        boolean hasSmallLanes(int lanes) {
            if (aarch64()) return lanes == 4 || lanes == 8; // NEON's 4 float lanes, and 8 lanes forced
            return lanes == 8 || (lanes == 16 && (this == AVX512 || this == AVX512VNNI));
        }

        /** GEMM panel widths (the Java GEMM's NR) with a native slab kernel in this build. */
        boolean hasGemmPanel(int nr) {
            if (aarch64()) return nr == 8 || nr == 16; // NEON's 4 float lanes, and 8 lanes forced
            return nr == 16 || (nr == 32 && (this == AVX512 || this == AVX512VNNI));
        }

        static Isa byId(String id) {
            for (Isa isa : values()) if (isa.id.equalsIgnoreCase(id)) return isa;
            return null;
        }
    }

    /** The library version this class expects ({@code instella_kernels_version}). */
    private static final int VERSION = 10;
    /** The Java GEMM's panel width (Gemm.NR: two of the Java kernels' float vectors). */
    private static final int GEMM_PANEL = 2 * Vectors.FLOAT.length();
    /** The library in use, or null (the Java kernels run). */
    private static final Library LIB;
    private static final String STATUS;

    static {
        Library lib = null;
        String status;
        String choice = System.getProperty("instella.kernels", System.getenv().getOrDefault("INSTELLA_KERNELS", "auto"))
                .trim().toLowerCase(Locale.ROOT);
        String why = platformReason(choice);
        if (why != null) {
            status = "java (" + why + ")";
        } else {
            Set<String> cpu = cpuFlags();
            List<Isa> candidates = choice.equals("auto")
                    ? java.util.Arrays.stream(Isa.values()).filter(Isa::forThisArch).toList() : List.of(Isa.byId(choice));
            List<String> reasons = new ArrayList<>();
            for (Isa isa : candidates) {
                String missing = !isa.forThisArch() ? "a build for " + (isa.aarch64() ? "aarch64" : "x86-64")
                        : cpu == null ? "cannot read /proc/cpuinfo" : isa.missingFlag(cpu) == null ? null : "CPU lacks " + isa.missingFlag(cpu);
                if (missing == null && NativeKernels.class.getResource(isa.resource()) == null) {
                    missing = "built without the native libraries (no gcc at build time)";
                }
                if (missing != null) {
                    reasons.add(isa.id + ": " + missing);
                    continue;
                }
                try {
                    lib = new Library(isa);
                    break;
                } catch (Throwable t) {
                    reasons.add(isa.id + ": did not load: " + t.getMessage());
                }
            }
            status = lib != null ? "native-" + lib.isa.id
                    : "java (" + (choice.equals("auto") ? reasons.getLast() : String.join("; ", reasons)) + ")";
        }
        LIB = lib;
        STATUS = status;
    }

    private NativeKernels() {}

    /** True when the native kernels are in use. */
    public static boolean available() { return LIB != null; }

    /**
     * Which kernels run: {@code native-avx512vnni}, {@code native-avx512}, {@code native-avxvnni}, {@code native-avx2},
     * or {@code java (reason)}.
     */
    public static String status() { return STATUS; }

    /** True when the native GEMM slab kernel and packers exist for panels of nr columns (the Java GEMM's NR). */
    static boolean gemmPanelSupported(int nr) { return LIB != null && nr == GEMM_PANEL && LIB.isa.hasGemmPanel(nr); }

    /** True when BF16 weights can be packed as BF16 panels for the Java GEMM's panel width (see {@link #packBf16Pairs}). */
    static boolean bf16PanelsSupported() { return gemmPanelSupported(GEMM_PANEL) && LIB.hasBf16Panels(GEMM_PANEL); }

    /** True when the native small-prompt BF16 kernel exists for the Java kernels' vector length. */
    static boolean smallGemmSupported() {
        return LIB != null && LIB.hasPrefillKernels() && LIB.isa.hasSmallLanes(Vectors.FLOAT.length());
    }

    /** True when the loaded build has the int8 GEMM (every bundled build: x86 and aarch64). */
    static boolean int8GemmAvailable() { return LIB != null && LIB.hasPrefillKernels(); }

    /**
     * Null when the opt-in BF16 compute kernels ({@link Bf16Dot}: vdpbf16ps, AVX-512 BF16) can run here, else why not:
     * they are in the AVX-512 builds and need the CPU flag avx512_bf16.
     */
    static String bf16DotUnavailableReason() {
        if (LIB == null) return "native kernels not in use: " + STATUS;
        if (!LIB.hasBf16Dot()) return "the " + LIB.isa.id + " build has no BF16 compute kernels (AVX-512 builds only)";
        Set<String> cpu = cpuFlags();
        if (cpu == null || !cpu.contains("avx512_bf16")) return "CPU lacks avx512_bf16";
        return null;
    }

    /** The BF16 compute GEMV (see {@link Bf16Dot}); only where {@link #bf16DotUnavailableReason} is null. */
    static void bf16DotRows(MemorySegment w, int k, int m, int j0, int j1, short[] xb, int n, float[] bias, float[] out, int outOff) {
        LIB.bf16DotRows(w, k, m, j0, j1, xb, n, bias, out, outOff);
    }

    /** Packs BF16 weights into the BF16 compute GEMM's panels of 32 rows × depth pairs (see {@link Bf16Dot}). */
    static void bf16DotPack(MemorySegment w, int k, int j0, int cols, int pc, int kc, int[] slab) {
        LIB.bf16DotPack(w, k, j0, cols, pc, kc, slab);
    }

    /** The BF16 compute GEMM's loops over one packed slab (see {@link Bf16Dot}). */
    static void bf16DotSlab(short[] a, int aOff, int lda, int n, int[] slab, int kc, int cols, float[] c, int cOff, int ldc,
                            boolean first, float[] bias, int j0) {
        LIB.bf16DotSlab(a, aOff, lda, n, slab, kc, cols, c, cOff, ldc, first, bias, j0);
    }

    /** Null when a native build may run here, else why not (the choice, the OS, the architecture). */
    private static String platformReason(String choice) {
        if (choice.equals("java")) return "chosen with instella.kernels=java";
        if (!choice.equals("auto") && Isa.byId(choice) == null) {
            return "unknown instella.kernels=" + choice + "; expected auto, java, "
                    + String.join(", ", java.util.Arrays.stream(Isa.values()).map(i -> i.id).toList());
        }
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64") || isAarch64())) return "not Linux x86-64 or aarch64";
        return null;
    }

    private static boolean isAarch64() {
        String arch = System.getProperty("os.arch", "");
        return arch.equals("aarch64") || arch.equals("arm64");
    }

    /**
     * The CPU's feature flags from /proc/cpuinfo (the first "flags" line on x86, "Features" on aarch64: the hwcaps,
     * e.g. asimd, asimddp), or null when it cannot be read.
     */
    static Set<String> cpuFlags() {
        try {
            return cpuFlags(Files.readString(Path.of("/proc/cpuinfo")));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The flags of the first "flags" or "Features" line of a /proc/cpuinfo text (empty when there is none). */
    static Set<String> cpuFlags(String cpuinfo) {
        String line = cpuinfo.lines().filter(l -> l.startsWith("flags") || l.startsWith("Features")).findFirst().orElse("");
        int colon = line.indexOf(':');
        return colon < 0 ? Set.of() : Set.of(line.substring(colon + 1).trim().split("\\s+"));
    }

    /** The bundled builds this CPU can run, best first (for tests and diagnostics). */
    static List<Isa> runnableHere() {
        Set<String> cpu = cpuFlags();
        if (cpu == null || platformReason("auto") != null) return List.of();
        return java.util.Arrays.stream(Isa.values())
                .filter(i -> i.forThisArch() && i.missingFlag(cpu) == null && NativeKernels.class.getResource(i.resource()) != null).toList();
    }

    /** Copies a bundled library to a temporary file (a library inside a jar cannot be mapped). */
    private static Path extract(String resource) throws IOException {
        Path tmp = Files.createTempFile("instella-kernels-", ".so");
        tmp.toFile().deleteOnExit();
        try (InputStream in = NativeKernels.class.getResourceAsStream(resource)) {
            if (in == null) throw new IOException(resource + " is missing");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }

    /** One loaded build: its entry points. Tests load every build the CPU runs side by side. */
    static final class Library {
        final Isa isa;
        private final MethodHandle q4Rows, q8Rows, q4R8Rows, q8R8Rows, repackQ4R8, repackQ8R8, bf16Rows, attendF32, attendF16;
        private final MethodHandle gemmSlab8, gemmSlab16, gemmSlab32, packBf16, packQ8, packQ4;
        /** The int8 GEMM and the small-prompt BF16 kernel; null in a build without them (every bundled build has them). */
        private final MethodHandle int8Gemm, bf16Small;
        /** The GEMM over BF16 panels (instella_pack_bf16_pairs and its slab loops); null where this build has none. */
        private final MethodHandle packBf16Pairs, gemmSlabBf16, gemmSlabBf16x32;
        /** The opt-in BF16 compute kernels (vdpbf16ps, {@link Bf16Dot}); null where this build has none. */
        private final MethodHandle bf16dotRows, bf16dotPack, bf16dotSlab;

        Library(Isa isa) throws Throwable {
            this.isa = isa;
            SymbolLookup lib = SymbolLookup.libraryLookup(extract(isa.resource()), Arena.global());
            Linker linker = Linker.nativeLinker();
            Linker.Option critical = Linker.Option.critical(true);
            MethodHandle version = linker.downcallHandle(lib.findOrThrow("instella_kernels_version"),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT));
            int v = (int) version.invokeExact();
            if (v != VERSION) throw new IllegalStateException("library version " + v + ", expected " + VERSION);
            ValueLayout A = ValueLayout.ADDRESS, L = ValueLayout.JAVA_LONG, I = ValueLayout.JAVA_INT;
            q4Rows = linker.downcallHandle(lib.findOrThrow("instella_q4_0_rows"),
                    FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, A, I, A, A), critical);
            q8Rows = linker.downcallHandle(lib.findOrThrow("instella_q8_0_rows"),
                    FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, I, A, A), critical);
            q4R8Rows = linker.downcallHandle(lib.findOrThrow("instella_q4_0_r8_rows"),
                    FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, A, I, A, A), critical);
            q8R8Rows = linker.downcallHandle(lib.findOrThrow("instella_q8_0_r8_rows"),
                    FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, I, A, A), critical);
            repackQ4R8 = linker.downcallHandle(lib.findOrThrow("instella_repack_q4_0_r8"),
                    FunctionDescriptor.ofVoid(A, A, L, I, I), critical);
            repackQ8R8 = linker.downcallHandle(lib.findOrThrow("instella_repack_q8_0_r8"),
                    FunctionDescriptor.ofVoid(A, A, L, I, I), critical);
            bf16Rows = linker.downcallHandle(lib.findOrThrow("instella_bf16_rows"),
                    FunctionDescriptor.ofVoid(A, L, I, I, A, A, A), critical);
            FunctionDescriptor attend = FunctionDescriptor.ofVoid(A, A, A, I, I, ValueLayout.JAVA_FLOAT, A, A);
            attendF32 = linker.downcallHandle(lib.findOrThrow("instella_attend_f32"), attend, critical);
            attendF16 = linker.downcallHandle(lib.findOrThrow("instella_attend_f16"), attend, critical);
            FunctionDescriptor slab = FunctionDescriptor.ofVoid(A, L, I, A, I, I, A, L, I, A);
            gemmSlab16 = linker.downcallHandle(lib.findOrThrow("instella_gemm_slab"), slab, critical);
            gemmSlab8 = isa.hasGemmPanel(8) ? linker.downcallHandle(lib.findOrThrow("instella_gemm_slab8"), slab, critical) : null;
            gemmSlab32 = isa.hasGemmPanel(32) ? linker.downcallHandle(lib.findOrThrow("instella_gemm_slab32"), slab, critical) : null;
            FunctionDescriptor packing = FunctionDescriptor.ofVoid(A, L, I, I, I, I, A, I);
            packBf16 = linker.downcallHandle(lib.findOrThrow("instella_pack_bf16"), packing, critical);
            packQ8 = linker.downcallHandle(lib.findOrThrow("instella_pack_q8_0"), packing, critical);
            packQ4 = linker.downcallHandle(lib.findOrThrow("instella_pack_q4_0"), packing, critical);
            int8Gemm = lib.find("instella_int8_gemm").map(s -> linker.downcallHandle(s,
                    FunctionDescriptor.ofVoid(A, I, L, L, I, I, A, A, A, I, A, A, A), critical)).orElse(null);
            bf16Small = lib.find("instella_bf16_small").map(s -> linker.downcallHandle(s,
                    FunctionDescriptor.ofVoid(A, L, L, I, I, A, L, I, I, A, A, A), critical)).orElse(null);

            packBf16Pairs = lib.find("instella_pack_bf16_pairs").map(s -> linker.downcallHandle(s,
                    FunctionDescriptor.ofVoid(A, L, I, I, I, I, A, I), critical)).orElse(null);
            gemmSlabBf16 = lib.find("instella_gemm_slab_bf16").map(s -> linker.downcallHandle(s, slab, critical)).orElse(null);
            gemmSlabBf16x32 = lib.find("instella_gemm_slab_bf16_32").map(s -> linker.downcallHandle(s, slab, critical)).orElse(null);

            bf16dotRows = lib.find("instella_bf16dot_rows").map(s -> linker.downcallHandle(s,
                    FunctionDescriptor.ofVoid(A, L, L, I, I, A, I, A, A), critical)).orElse(null);
            bf16dotPack = lib.find("instella_bf16dot_pack").map(s -> linker.downcallHandle(s,
                    FunctionDescriptor.ofVoid(A, L, I, I, I, I, A), critical)).orElse(null);
            bf16dotSlab = lib.find("instella_bf16dot_gemm_slab").map(s -> linker.downcallHandle(s, slab, critical)).orElse(null);
        }

        /** True when this build has the int8 GEMM and the small-prompt BF16 kernel. */
        boolean hasPrefillKernels() { return int8Gemm != null && bf16Small != null; }

        /** See {@link NativeKernels#int8Gemm}. */
        void int8Gemm(MemorySegment w, int type, int k, int m, int u0, int u1, Gemv.QuantizedActivations qa, int n,
                      float[] bias, float[] out, int outOff, byte[] scratch) {
            try {
                int8Gemm.invokeExact(w, type, (long) k, (long) m, u0, u1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                        MemorySegment.ofArray(qa.sums), n, orNull(bias), MemorySegment.ofArray(out).asSlice(4L * outOff),
                        MemorySegment.ofArray(scratch));
            } catch (Throwable t) {
                throw new IllegalStateException("native int8 GEMM failed", t);
            }
        }

        /** See {@link NativeKernels#bf16Small}. */
        void bf16Small(MemorySegment w, int k, int m, int j0, int j1, MemorySegment xs, int ldx, int n, int lanes, float[] bias,
                       float[] out, int outOff, float[] scratch) {
            if (!isa.hasSmallLanes(lanes)) throw new IllegalArgumentException("no native small-prompt kernel for " + lanes + " lanes in " + isa.id);
            try {
                bf16Small.invokeExact(w, (long) k, (long) m, j0, j1, xs, (long) ldx, n, lanes, orNull(bias),
                        MemorySegment.ofArray(out).asSlice(4L * outOff), MemorySegment.ofArray(scratch));
            } catch (Throwable t) {
                throw new IllegalStateException("native small-prompt BF16 kernel failed", t);
            }
        }

        /** True when this build packs BF16 weights as BF16 panels for panels of nr columns (16 or 32). */
        boolean hasBf16Panels(int nr) {
            return packBf16Pairs != null && (nr == 16 ? gemmSlabBf16 : nr == 32 ? gemmSlabBf16x32 : null) != null;
        }

        /** See {@link NativeKernels#packBf16Pairs}; slab holds at least 2 · ceil(cols / nr) · nr · kc bytes. */
        void packBf16Pairs(int nr, MemorySegment w, int k, int j0, int cols, int pc, int kc, MemorySegment slab) {
            if (!hasBf16Panels(nr)) throw new IllegalArgumentException("no native BF16 panels of " + nr + " in " + isa.id);
            try {
                packBf16Pairs.invokeExact(w, (long) k, j0, cols, pc, kc, slab, nr);
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 panel packing failed", t);
            }
        }

        /** {@link #gemmSlab} over a slab of BF16 panels from {@link #packBf16Pairs}. */
        void gemmSlabBf16(int nr, float[] a, int aOff, int lda, int n, MemorySegment slab, int kc, int cols, float[] c, int cOff,
                          int ldc, boolean first, float[] bias, int j0) {
            if (!hasBf16Panels(nr)) throw new IllegalArgumentException("no native BF16 panels of " + nr + " in " + isa.id);
            try {
                (nr == 32 ? gemmSlabBf16x32 : gemmSlabBf16).invokeExact(MemorySegment.ofArray(a).asSlice(4L * aOff), (long) lda, n,
                        slab, kc, cols, MemorySegment.ofArray(c).asSlice(4L * cOff), (long) ldc, first ? 1 : 0,
                        (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias).asSlice(4L * j0)));
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 panel GEMM failed", t);
            }
        }

        /** True when this build has the BF16 compute kernels (the CPU flag is checked separately). */
        boolean hasBf16Dot() { return bf16dotRows != null && bf16dotPack != null && bf16dotSlab != null; }

        void bf16DotRows(MemorySegment w, int k, int m, int j0, int j1, short[] xb, int n, float[] bias, float[] out, int outOff) {
            try {
                bf16dotRows.invokeExact(w, (long) k, (long) m, j0, j1, MemorySegment.ofArray(xb), n, orNull(bias),
                        MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 compute kernel failed", t);
            }
        }

        void bf16DotPack(MemorySegment w, int k, int j0, int cols, int pc, int kc, int[] slab) {
            try {
                bf16dotPack.invokeExact(w, (long) k, j0, cols, pc, kc, MemorySegment.ofArray(slab));
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 compute packing failed", t);
            }
        }

        void bf16DotSlab(short[] a, int aOff, int lda, int n, int[] slab, int kc, int cols, float[] c, int cOff, int ldc,
                         boolean first, float[] bias, int j0) {
            try {
                bf16dotSlab.invokeExact(MemorySegment.ofArray(a).asSlice(2L * aOff), (long) lda, n, MemorySegment.ofArray(slab),
                        kc, cols, MemorySegment.ofArray(c).asSlice(4L * cOff), (long) ldc, first ? 1 : 0,
                        (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias).asSlice(4L * j0)));
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 compute GEMM failed", t);
            }
        }

        void q4_0Rows(MemorySegment w, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                      float[] bias, float[] out, int outOff) {
            try {
                q4Rows.invokeExact(w, (long) k, (long) m, j0, j1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                        MemorySegment.ofArray(qa.sums), n, orNull(bias), MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native Q4_0 kernel failed", t);
            }
        }

        void q4_0R8Rows(MemorySegment w, int k, int m, int g0, int g1, Gemv.QuantizedActivations qa, int n,
                        float[] bias, float[] out, int outOff) {
            try {
                q4R8Rows.invokeExact(w, (long) k, (long) m, g0, g1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                        MemorySegment.ofArray(qa.sums), n, orNull(bias), MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native Q4_0_R8 kernel failed", t);
            }
        }

        void q8_0R8Rows(MemorySegment w, int k, int m, int g0, int g1, Gemv.QuantizedActivations qa, int n,
                        float[] bias, float[] out, int outOff) {
            try {
                q8R8Rows.invokeExact(w, (long) k, (long) m, g0, g1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                        n, orNull(bias), MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native Q8_0_R8 kernel failed", t);
            }
        }

        void q8_0Rows(MemorySegment w, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                      float[] bias, float[] out, int outOff) {
            try {
                q8Rows.invokeExact(w, (long) k, (long) m, j0, j1, MemorySegment.ofArray(qa.q8), MemorySegment.ofArray(qa.d),
                        n, orNull(bias), MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native Q8_0 kernel failed", t);
            }
        }

        void attendF32(float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, int len, int hd, float scale,
                       float[] scores, float[] out, int outOff) {
            try {
                attendF32.invokeExact(MemorySegment.ofArray(q).asSlice(4L * qOff), MemorySegment.ofArray(k).asSlice(4L * kOff),
                        MemorySegment.ofArray(v).asSlice(4L * vOff), len, hd, scale, MemorySegment.ofArray(scores),
                        MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native attention kernel failed", t);
            }
        }

        void attendF16(float[] q, int qOff, short[] k, int kOff, short[] v, int vOff, int len, int hd, float scale,
                       float[] scores, float[] out, int outOff) {
            try {
                attendF16.invokeExact(MemorySegment.ofArray(q).asSlice(4L * qOff), MemorySegment.ofArray(k).asSlice(2L * kOff),
                        MemorySegment.ofArray(v).asSlice(2L * vOff), len, hd, scale, MemorySegment.ofArray(scores),
                        MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native attention kernel failed", t);
            }
        }

        void bf16Rows(MemorySegment w, int k, int j0, int j1, float[] xs, float[] bias, float[] out, int outOff) {
            try {
                bf16Rows.invokeExact(w, (long) k, j0, j1, MemorySegment.ofArray(xs), orNull(bias),
                        MemorySegment.ofArray(out).asSlice(4L * outOff));
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 kernel failed", t);
            }
        }

        /** The GEMM slab loops for panels of nr columns (16, or 32 in the AVX-512 builds, or 8 in the aarch64 ones). */
        void gemmSlab(int nr, float[] a, int aOff, int lda, int n, float[] slab, int kc, int cols, float[] c, int cOff,
                      int ldc, boolean first, float[] bias, int j0) {
            if (!isa.hasGemmPanel(nr)) throw new IllegalArgumentException("no native GEMM kernel for panels of " + nr + " in " + isa.id);
            try {
                (nr == 32 ? gemmSlab32 : nr == 8 ? gemmSlab8 : gemmSlab16).invokeExact(MemorySegment.ofArray(a).asSlice(4L * aOff), (long) lda, n,
                        MemorySegment.ofArray(slab), kc, cols, MemorySegment.ofArray(c).asSlice(4L * cOff), (long) ldc, first ? 1 : 0,
                        (MemorySegment) (bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias).asSlice(4L * j0)));
            } catch (Throwable t) {
                throw new IllegalStateException("native GEMM kernel failed", t);
            }
        }

        void packBf16(int nr, MemorySegment w, int k, int j0, int cols, int pc, int kc, float[] slab) {
            try {
                packBf16.invokeExact(w, (long) k, j0, cols, pc, kc, MemorySegment.ofArray(slab), nr);
            } catch (Throwable t) {
                throw new IllegalStateException("native BF16 packing failed", t);
            }
        }

        void packQuantized(int nr, MemorySegment w, boolean q4, int k, int j0, int cols, int pc, int kc, float[] slab) {
            try {
                (q4 ? packQ4 : packQ8).invokeExact(w, (long) k, j0, cols, pc, kc, MemorySegment.ofArray(slab), nr);
            } catch (Throwable t) {
                throw new IllegalStateException("native " + (q4 ? "Q4_0" : "Q8_0") + " packing failed", t);
            }
        }

        void repackR8(boolean q4, MemorySegment src, MemorySegment dst, int k, int g0, int g1) {
            try {
                (q4 ? repackQ4R8 : repackQ8R8).invokeExact(src, dst, (long) k, g0, g1);
            } catch (Throwable t) {
                throw new IllegalStateException("native " + (q4 ? "Q4_0" : "Q8_0") + " repack failed", t);
            }
        }

        private static MemorySegment orNull(float[] a) { return a == null ? MemorySegment.NULL : MemorySegment.ofArray(a); }
    }

    /**
     * out[outOff + i*m + j] = W[j]·x_i (+ bias[j]) for rows [j0, j1) of a Q4_0 matrix W [m, k] and the n
     * tokens of {@code qa}.
     */
    static void q4_0Rows(MemorySegment w, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                         float[] bias, float[] out, int outOff) {
        LIB.q4_0Rows(w, k, m, j0, j1, qa, n, bias, out, outOff);
    }

    /**
     * As {@link #q4_0Rows} for a {@code Q4_0_R8} matrix (rows interleaved by 8), row groups [g0, g1): rows
     * 8·g0 .. 8·g1.
     */
    static void q4_0R8Rows(MemorySegment w, int k, int m, int g0, int g1, Gemv.QuantizedActivations qa, int n,
                           float[] bias, float[] out, int outOff) {
        LIB.q4_0R8Rows(w, k, m, g0, g1, qa, n, bias, out, outOff);
    }

    /** As {@link #q4_0R8Rows} for a {@code Q8_0_R8} matrix. */
    static void q8_0R8Rows(MemorySegment w, int k, int m, int g0, int g1, Gemv.QuantizedActivations qa, int n,
                           float[] bias, float[] out, int outOff) {
        LIB.q8_0R8Rows(w, k, m, g0, g1, qa, n, bias, out, outOff);
    }

    /** As {@link #q4_0Rows} for a Q8_0 matrix. */
    static void q8_0Rows(MemorySegment w, int k, int m, int j0, int j1, Gemv.QuantizedActivations qa, int n,
                         float[] bias, float[] out, int outOff) {
        LIB.q8_0Rows(w, k, m, j0, j1, qa, n, bias, out, outOff);
    }

    /**
     * Decode attention for one query row of one head over {@code len} contiguous key/value rows of hd floats
     * ({@code k[kOff..]}, {@code v[vOff..]}); see {@link Attention#attendHead}. Bounds are the caller's to check.
     */
    static void attendF32(float[] q, int qOff, float[] k, int kOff, float[] v, int vOff, int len, int hd, float scale,
                          float[] scores, float[] out, int outOff) {
        LIB.attendF32(q, qOff, k, kOff, v, vOff, len, hd, scale, scores, out, outOff);
    }

    /** As {@link #attendF32} for keys and values stored as IEEE half floats. */
    static void attendF16(float[] q, int qOff, short[] k, int kOff, short[] v, int vOff, int len, int hd, float scale,
                          float[] scores, float[] out, int outOff) {
        LIB.attendF16(q, qOff, k, kOff, v, vOff, len, hd, scale, scores, out, outOff);
    }

    /** out[outOff + j] = W[j]·x (+ bias[j]) for rows [j0, j1) of a BF16 matrix W [m, k], x split even/odd per 16. */
    static void bf16Rows(MemorySegment w, int k, int j0, int j1, float[] xs, float[] bias, float[] out, int outOff) {
        LIB.bf16Rows(w, k, j0, j1, xs, bias, out, outOff);
    }

    /**
     * C[n × cols] (+)= A[n × kc] · slab for one packed GEMM slab with the Java GEMM's panel width (see Gemm.slab,
     * whose loops this is; only where {@link #gemmPanelSupported}): a[aOff] is A[0][pc] (row stride lda), c[cOff] is
     * C[0][j0] (row stride ldc), bias read from index j0.
     */
    static void gemmSlab(float[] a, int aOff, int lda, int n, float[] slab, int kc, int cols, float[] c, int cOff,
                         int ldc, boolean first, float[] bias, int j0) {
        LIB.gemmSlab(GEMM_PANEL, a, aOff, lda, n, slab, kc, cols, c, cOff, ldc, first, bias, j0);
    }

    /**
     * Packs BF16 weight rows [j0, j0+cols) × depth [pc, pc+kc) of W [m, k] into the GEMM's panels of NR rows (see
     * Gemm.pack): slab[p][t][q] = W[j0 + NR·p + q][pc + t] as float, zero past the last row.
     */
    static void packBf16(MemorySegment w, int k, int j0, int cols, int pc, int kc, float[] slab) {
        LIB.packBf16(GEMM_PANEL, w, k, j0, cols, pc, kc, slab);
    }

    /**
     * Packs BF16 weight rows [j0, j0 + cols) × depth [pc, pc + kc) of W [m, k] as BF16 panels of the Java GEMM's width
     * nr: per depth t, nr values where the 32-bit pair e holds W[j0 + p·nr + e][t] (low half) and W[j0 + p·nr + e + nr/2][t]
     * (high half), zero past cols; the slab loops widen a pair into the float panel's two vectors in registers.
     */
    static void packBf16Pairs(MemorySegment w, int k, int j0, int cols, int pc, int kc, MemorySegment slab) {
        LIB.packBf16Pairs(GEMM_PANEL, w, k, j0, cols, pc, kc, slab);
    }

    /** {@link #gemmSlab} over BF16 panels from {@link #packBf16Pairs}: bit-identical to it on the widened slab. */
    static void gemmSlabBf16(float[] a, int aOff, int lda, int n, MemorySegment slab, int kc, int cols, float[] c, int cOff,
                             int ldc, boolean first, float[] bias, int j0) {
        LIB.gemmSlabBf16(GEMM_PANEL, a, aOff, lda, n, slab, kc, cols, c, cOff, ldc, first, bias, j0);
    }

    /** As {@link #packBf16} for a Q8_0 or Q4_0 matrix (pc and kc multiples of 32), dequantized as {@code Packing} does. */
    static void packQuantized(MemorySegment w, boolean q4, int k, int j0, int cols, int pc, int kc, float[] slab) {
        LIB.packQuantized(GEMM_PANEL, w, q4, k, j0, cols, pc, kc, slab);
    }

    /**
     * The int8 GEMM ({@code Int8Gemm}): out[outOff + i·m + j] = W[j]·x_i (+ bias[j]) for the n rows of {@code qa} and
     * the weight rows of units [u0, u1) (16 rows each) of W [m, k]; type 0 = Q8_0, 1 = Q4_0, 2 = Q4_0_R8, 3 = Q8_0_R8. scratch
     * holds at least {@link Int8Gemm#scratchBytes} bytes. Bounds are the caller's to check.
     */
    static void int8Gemm(MemorySegment w, int type, int k, int m, int u0, int u1, Gemv.QuantizedActivations qa, int n,
                         float[] bias, float[] out, int outOff, byte[] scratch) {
        LIB.int8Gemm(w, type, k, m, u0, u1, qa, n, bias, out, outOff, scratch);
    }

    /**
     * The small-prompt BF16 product ({@code SmallGemm}) for rows [j0, j1) of W [m, k] and n rows of x split even/odd
     * per 2·lanes values (lanes: the Java kernels' vector length), rows ldx floats apart; scratch holds at least
     * 16 · n · lanes floats. Bounds are the caller's to check.
     */
    static void bf16Small(MemorySegment w, int k, int m, int j0, int j1, MemorySegment xs, int ldx, int n, float[] bias,
                          float[] out, int outOff, float[] scratch) {
        LIB.bf16Small(w, k, m, j0, j1, xs, ldx, n, Vectors.FLOAT.length(), bias, out, outOff, scratch);
    }

    /**
     * Repacks row groups [g0, g1) of a Q4_0 or Q8_0 matrix ({@code plain}) with rows of k values into its R8 layout
     * ({@code Quant.repackR8} checks the shapes and sizes first).
     */
    public static void repackR8(io.instella.core.tensor.DType plain, MemorySegment src, MemorySegment dst, int k, int g0, int g1) {
        LIB.repackR8(plain == io.instella.core.tensor.DType.Q4_0, src, dst, k, g0, g1);
    }
}
