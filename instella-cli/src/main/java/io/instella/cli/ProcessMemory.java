package io.instella.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The process's peak resident set (Linux /proc/self/status VmHWM), resettable between benchmark phases. */
final class ProcessMemory {
    private ProcessMemory() {}

    /** Resets the kernel's peak-RSS mark to the current RSS (writes 5 to /proc/self/clear_refs); best effort. */
    static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException ignored) {
            // not Linux or not permitted: the peak then covers the whole process
        }
    }

    /** Peak resident bytes since the last reset, or -1 where /proc is unavailable. */
    static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // fall through
        }
        return -1;
    }
}
