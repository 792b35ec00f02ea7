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
 * The optional native decode kernels for Q4_0/Q8_0 weights ({@code src/main/c/instella_kernels.c}, built by
 * the Maven build where gcc is present and bundled as a resource): x86's 8-bit dot-product instructions,
 * which the Vector API cannot express, make the quantized matrix-vector product faster than the Java kernels
 * (measured on 2 cores: Q4_0 1.9×, Q8_0 1.3×; see the module README). Used only on Linux x86-64 with
 * AVX2, FMA and F16C, and only when the library loads; otherwise, or with {@code -Dinstella.kernels=java} (or {@code INSTELLA_KERNELS=java}),
 * the Java Vector API kernels run, which give the same results up to float summation order.
 * <p>
 * Calls are "critical" downcalls: heap arrays are passed in place (no copies) and the calls are short
 * (one range of rows of one matrix), as the FFM API requires for that mode.
 */
public final class NativeKernels {
    private static final String RESOURCE = "/io/instella/core/kernels/native/linux-x86_64/libinstella_kernels.so";
    private static final MethodHandle Q4_0_ROWS;
    private static final MethodHandle Q8_0_ROWS;
    private static final String STATUS;

    static {
        MethodHandle q4 = null, q8 = null;
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
                if (v != 1) throw new IllegalStateException("library version " + v + ", expected 1");
                ValueLayout A = ValueLayout.ADDRESS, L = ValueLayout.JAVA_LONG, I = ValueLayout.JAVA_INT;
                q4 = linker.downcallHandle(lib.findOrThrow("instella_q4_0_rows"),
                        FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, A, I, A, A), critical);
                q8 = linker.downcallHandle(lib.findOrThrow("instella_q8_0_rows"),
                        FunctionDescriptor.ofVoid(A, L, L, I, I, A, A, I, A, A), critical);
                status = "native-avx2";
            }
        } catch (Throwable t) {
            q4 = null;
            q8 = null;
            status = "java (native kernels did not load: " + t.getMessage() + ")";
        }
        Q4_0_ROWS = q4;
        Q8_0_ROWS = q8;
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
}
