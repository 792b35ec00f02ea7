package io.instella.core.safetensors;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Tells the kernel that the pages of a read-only file mapping will not be needed again (madvise
 * MADV_DONTNEED), so they stop counting towards the process's resident memory; the file stays in the
 * page cache. Used after a stored weight has been converted (quantized) into new memory; and read patterns
 * (MADV_RANDOM for tables read a row at a time). Best effort: a no-op where madvise is unavailable.
 */
public final class MappedMemory {
    private static final int MADV_RANDOM = 1;
    private static final int MADV_DONTNEED = 4;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE = lookup();

    private MappedMemory() {}

    private static MethodHandle lookup() {
        try {
            if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) return null;
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("madvise").map(addr -> linker.downcallHandle(addr,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT)))
                    .orElse(null);
        } catch (Throwable e) {
            return null; // no native access: keep the pages
        }
    }

    /** Releases the whole pages inside a mapped segment (partial pages at either end are kept). */
    public static void release(MemorySegment mapped) {
        advise(mapped, MADV_DONTNEED);
    }

    /**
     * Marks a mapped segment as read at random places (MADV_RANDOM): a page fault then maps only that page,
     * without read-ahead or the neighbouring pages, so looking up a few rows of a large table (token
     * embeddings) keeps only those rows resident.
     */
    public static void randomAccess(MemorySegment mapped) {
        advise(mapped, MADV_RANDOM);
    }

    private static void advise(MemorySegment mapped, int advice) {
        if (MADVISE == null || !mapped.isNative() || !mapped.isMapped()) return;
        long start = mapped.address(), end = start + mapped.byteSize();
        long first = (start + PAGE - 1) & -PAGE, last = end & -PAGE;
        if (last <= first) return;
        try {
            int rc = (int) MADVISE.invokeExact(MemorySegment.ofAddress(first), last - first, advice);
        } catch (Throwable ignored) {
            // best effort only
        }
    }
}
