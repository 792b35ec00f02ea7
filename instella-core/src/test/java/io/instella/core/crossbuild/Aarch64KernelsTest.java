package io.instella.core.crossbuild;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The aarch64 NEON kernels (src/main/c/instella_kernels_aarch64.c), checked on an x86-64 build machine: the C driver
 * src/test/c/kernels_test.c is cross-compiled with each aarch64 build's flags and run under qemu-aarch64 (scalar
 * references; GEMM slab loops, packers, int8 GEMM and small-prompt BF16 product bit-identical; the Q8_0_R8 repack
 * against a reference permutation, its decode product against the plain Q8_0 one, its int8 GEMM (type 3) bit-identical
 * to the Q8_0 one (type 0) on the unpermuted matrix), then compiled with the
 * x86 source and run natively: both print the same checksum of the slab, packer, int8 GEMM and 8-lane small-prompt
 * outputs. The driver also runs cases written by the Java twins themselves ({@code PrefillTwinCases}: Int8Gemm.rows
 * and SmallGemm.rows in child JVMs at 128-bit vectors, NEON's 4 lanes, and 256-bit, 8 lanes) and requires the native
 * int8 GEMM and small-prompt kernel to give exactly their outputs. Also checks that the aarch64 library bundled by the
 * build exports every kernel the x86 one does (NativeKernels looks them all up). Skipped, with a message, where
 * aarch64-linux-gnu-gcc or qemu-aarch64 is missing ({@code apt-get install gcc-aarch64-linux-gnu qemu-user}).
 */
class Aarch64KernelsTest {
    static final Path SYSROOT = Path.of("/usr/aarch64-linux-gnu");
    /** Looked up with SymbolLookup.find (optional): the x86-only BF16 compute kernels (vdpbf16ps). */
    /**
     * Kernels the aarch64 builds do not have (NativeKernels looks them up as optional): the opt-in BF16 compute
     * (vdpbf16ps), and the GEMM over BF16 panels (aarch64 packs BF16 weights as float panels, as x86 did before).
     */
    static final Set<String> X86_ONLY = Set.of("instella_bf16dot_rows", "instella_bf16dot_pack", "instella_bf16dot_gemm_slab",
            "instella_pack_bf16_pairs", "instella_gemm_slab_bf16", "instella_gemm_slab_bf16_32");
    /** Cases of PrefillTwinCases: 6 int8 GEMM (any width), 4 small-prompt (at the child JVM's lanes). */
    static final int TWIN_INT8 = 8, TWIN_SMALL = 4;

    static Path work, twin128, twin256;

    @BeforeAll
    static void tools() throws IOException {
        assumeTrue(onPath("aarch64-linux-gnu-gcc") && onPath("qemu-aarch64") && Files.isDirectory(SYSROOT),
                "aarch64-linux-gnu-gcc, qemu-aarch64 or " + SYSROOT + " missing: the aarch64 kernels are not checked here"
                        + " (apt-get install gcc-aarch64-linux-gnu qemu-user)");
        work = Files.createDirectories(Path.of("target", "aarch64-kernels-test"));
    }

    /** Runs PrefillTwinCases in a child JVM with the Java kernels at `bits`-bit vectors; returns the cases file. */
    static Path twinCases(int bits) throws IOException, InterruptedException {
        Path file = work.resolve("twin-cases-" + bits + ".bin").toAbsolutePath();
        Run r = run(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Dinstella.vector.bits=" + bits, "-Dinstella.kernels=java",
                "-cp", System.getProperty("java.class.path"), "io.instella.core.kernels.PrefillTwinCases", file.toString()));
        assertThat(r.exit()).as("PrefillTwinCases at %d bits: %s", bits, r.output()).isZero();
        return file;
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    record Run(int exit, String output) {}

    static Run run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("%s finished", cmd).isTrue();
        return new Run(p.exitValue(), out);
    }

    static String checksum(String output) {
        return output.lines().filter(l -> l.startsWith("checksum ")).findFirst().orElseThrow().substring(9);
    }

    /** Compiles the driver with one aarch64 build's flags and runs it under qemu (with the twin cases); returns its checksum. */
    static String runAarch64(String march) throws IOException, InterruptedException {
        Path exe = work.resolve("kernels_test_" + march.replace('+', '_').replace('.', '_'));
        Run cc = run(List.of("aarch64-linux-gnu-gcc", "-O2", "-march=" + march, "-ffp-contract=off", "-Wall", "-Werror",
                "-o", exe.toString(), "src/test/c/kernels_test.c", "src/main/c/instella_kernels_aarch64.c", "-lm"));
        assertThat(cc.exit()).as("cross compile (-march=%s): %s", march, cc.output()).isZero();
        Run r = run(List.of("qemu-aarch64", "-L", SYSROOT.toString(), exe.toString(), twin128.toString(), twin256.toString()));
        assertThat(r.exit()).as("the kernels of -march=%s against the references and the Java twins:%n%s", march, r.output()).isZero();
        assertThat(r.output()).contains("failures 0")
                .as("every twin case runs: 4 and 8 lanes").contains(twin128 + ": " + (TWIN_INT8 + TWIN_SMALL) + " run")
                .contains(twin256 + ": " + (TWIN_INT8 + TWIN_SMALL) + " run");
        return checksum(r.output());
    }

    @Test
    void neonKernelsMatchTheReferencesTheJavaTwinsAndTheX86Build() throws Exception {
        twin128 = twinCases(128);
        twin256 = twinCases(256);
        String neon = runAarch64("armv8-a"), neondot = runAarch64("armv8.2-a+dotprod");
        assertThat(neondot).as("sdot and widening-multiply builds").isEqualTo(neon);
        boolean x86 = System.getProperty("os.arch", "").equals("amd64") && onPath("gcc")
                && Files.readString(Path.of("/proc/cpuinfo")).contains(" avx2");
        if (x86) {
            Path exe = work.resolve("kernels_test_x86");
            Run cc = run(List.of("gcc", "-O2", "-mavx2", "-mfma", "-mf16c", "-ffp-contract=off", "-o", exe.toString(),
                    "src/test/c/kernels_test.c", "src/main/c/instella_kernels.c", "-lm"));
            assertThat(cc.exit()).as("x86 compile: %s", cc.output()).isZero();
            Run r = run(List.of(exe.toString(), twin128.toString(), twin256.toString()));
            assertThat(r.exit()).as("the x86 kernels against the references and the Java twins:%n%s", r.output()).isZero();
            assertThat(r.output()).as("the AVX2 small-prompt kernel has 8 lanes only")
                    .contains(twin128 + ": " + TWIN_INT8 + " run").contains(twin256 + ": " + (TWIN_INT8 + TWIN_SMALL) + " run");
            assertThat(checksum(r.output())).as("slab loops, packers, int8 GEMM, 8-lane small kernel: aarch64 and x86 bit-identical")
                    .isEqualTo(neon);
        }
    }

    /** The version number a kernel source's instella_kernels_version returns. */
    static int sourceVersion(String source) throws IOException {
        var m = java.util.regex.Pattern.compile("int32_t instella_kernels_version\\(void\\) \\{ return (\\d+); \\}")
                .matcher(Files.readString(Path.of("src/main/c", source)));
        assertThat(m.find()).as("%s defines instella_kernels_version", source).isTrue();
        return Integer.parseInt(m.group(1));
    }

    /** NativeKernels checks one expected version for both architectures: a kernel change bumps both sources. */
    @Test
    void aarch64AndX86SourcesHaveTheSameLibraryVersion() throws IOException {
        assertThat(sourceVersion("instella_kernels_aarch64.c")).as("instella_kernels_aarch64.c's version (bump with the x86 source's)")
                .isEqualTo(sourceVersion("instella_kernels.c"));
    }

    /** Exported functions of a shared library (nm -D --defined-only), names starting with instella_. */
    static Set<String> exports(String nm, Path lib) throws Exception {
        Run r = run(List.of(nm, "-D", "--defined-only", lib.toString()));
        assertThat(r.exit()).as("%s %s: %s", nm, lib, r.output()).isZero();
        Set<String> names = new TreeSet<>();
        for (String line : r.output().lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 3 && f[1].equals("T") && f[2].startsWith("instella_")) names.add(f[2]);
        }
        return names;
    }

    @Test
    void bundledAarch64LibrariesExportEveryKernelOfTheX86Ones() throws Exception {
        Path classes = Path.of("target", "classes", "io", "instella", "core", "kernels", "native");
        Path x86 = classes.resolve("linux-x86_64/libinstella_kernels_avx2.so");
        List<Path> arm = new ArrayList<>(List.of(classes.resolve("linux-aarch64/libinstella_kernels_neon.so"),
                classes.resolve("linux-aarch64/libinstella_kernels_neondot.so")));
        assumeTrue(Files.exists(x86) && onPath("nm"), "no x86 build to compare with");
        for (Path lib : arm) assertThat(lib).as("built by the native-kernels profile when aarch64-linux-gnu-gcc is present").exists();
        Set<String> want = new TreeSet<>(exports("nm", x86));
        want.removeAll(X86_ONLY);
        for (Path lib : arm) {
            assertThat(exports("aarch64-linux-gnu-nm", lib)).as("%s exports", lib.getFileName()).containsAll(want);
        }
    }
}
