package io.instella.cli;

import io.instella.model.InstellaException;
import io.instella.server.MemoryPlan;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The JVM's heap cap for {@code instella serve --memory SIZE}. The cap must be set when the JVM starts (-Xmx), so
 * the {@code ./instella} launcher turns {@code --memory SIZE} into {@code -Xmx SIZE}; here the server checks that
 * the JVM it runs in really has that cap, and reads the cap to check the server's needs against it.
 */
final class HeapCap {
    /**
     * Memory a server process holds beyond its heap and the mapped weights: class metadata, compiled code, thread
     * stacks, GC structures, shared libraries and Jetty's direct buffers (measured: about 110 MB on the tiny model,
     * after 10,000 hostile requests).
     */
    static final long JVM_OVERHEAD = 256L << 20;
    private static final Pattern SIZE = Pattern.compile("(\\d{1,12})([kmgt]?)");

    private HeapCap() {}

    /** The heap cap in bytes (-Xmx, or the JVM's default from the machine's memory). */
    static long current() {
        try {
            var hotspot = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Long.parseLong(hotspot.getVMOption("MaxHeapSize").getValue());
        } catch (RuntimeException | LinkageError e) {
            return Runtime.getRuntime().maxMemory();
        }
    }

    /** Parses a size as -Xmx takes it: 6g, 800m, 1048576k, or bytes. */
    static long parse(String size) {
        Matcher m = SIZE.matcher(size.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new InstellaException("--memory '" + size + "' is not a size; give it as -Xmx takes it, e.g. 6g or 800m");
        }
        int shift = switch (m.group(2)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        long n = Long.parseLong(m.group(1));
        if (n > (Long.MAX_VALUE >> shift)) throw new InstellaException("--memory '" + size + "' is too large");
        long bytes = n << shift;
        if (bytes < 64L << 20) throw new InstellaException("--memory '" + size + "' is too small; the server needs at least 64m");
        return bytes;
    }

    /** Fails when the JVM was not started with the heap cap that --memory asks for. */
    static void requireMatches(String memory, long actual) {
        long wanted = parse(memory);
        // The JVM rounds the cap to its heap alignment (a few MiB at most).
        if (Math.abs(actual - wanted) > Math.max(8L << 20, wanted / 50)) {
            throw new InstellaException("--memory " + memory + " asks for a heap cap of " + MemoryPlan.mib(wanted)
                    + " but this JVM's is " + MemoryPlan.mib(actual) + "; the ./instella launcher sets it from --memory, "
                    + "and when you start java yourself, give it -Xmx" + memory.trim().toLowerCase(Locale.ROOT)
                    + " as well");
        }
    }

    /** Where the cap came from, for the startup banner. */
    static String origin(String memory, long cap) {
        if (memory != null) return " (--memory " + memory + ")";
        long physical = physicalMemory();
        return physical > 0 ? String.format(Locale.ROOT, " (%.0f%% of this machine's %s; set it with --memory)",
                100.0 * cap / physical, MemoryPlan.mib(physical)) : " (the JVM's default; set it with --memory)";
    }

    /** A --memory value (whole MiB or GiB) that holds {@code bytes}. */
    static String suggest(long bytes) {
        long mib = (bytes + (1 << 20) - 1) >> 20;
        return mib >= 4096 ? ((mib + 1023) / 1024) + "g" : (((mib + 63) / 64) * 64) + "m";
    }

    private static long physicalMemory() {
        try {
            var os = ManagementFactory.getPlatformMXBean(com.sun.management.OperatingSystemMXBean.class);
            return os.getTotalMemorySize();
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }
}
