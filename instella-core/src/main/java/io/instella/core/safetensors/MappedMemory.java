package io.instella.core.safetensors;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Tells the kernel that the pages of a read-only file mapping will not be needed again (madvise
 * MADV_DONTNEED), so they stop counting towards the process's resident memory; the file stays in the
 * page cache. Used after a stored weight has been converted (quantized) into new memory; and read patterns
 * (MADV_HUGEPAGE for streamed weights, MADV_RANDOM for tables read a row at a time). Best effort: a no-op
 * where madvise is unavailable.
 */
public final class MappedMemory {
    private static final int MADV_RANDOM = 1;
    private static final int MADV_DONTNEED = 4;
    private static final int MADV_HUGEPAGE = 14;
    private static final int MADV_NOHUGEPAGE = 15;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE = libc("madvise",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle MMAP = libc("mmap", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    private static final MethodHandle MUNMAP = libc("munmap", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final int PROT_READ_WRITE = 0x3, MAP_PRIVATE_ANONYMOUS_POPULATE = 0x2 | 0x20 | 0x8000;

    private MappedMemory() {}

    /** A Linux C library function, or null (not Linux, no native access): callers then skip the advice or the mapping. */
    private static MethodHandle libc(String name, FunctionDescriptor fd) {
        try {
            // The advice and mmap flag values used here are Linux's.
            if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) return null;
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find(name).map(addr -> linker.downcallHandle(addr, fd)).orElse(null);
        } catch (Throwable e) {
            return null;
        }
    }

    /**
     * Native memory of {@code bytes} bytes, unmapped when {@code arena} closes, for a caller that overwrites all of
     * it: an anonymous mapping the kernel populates in one call (MAP_POPULATE), where {@link Arena#allocate} would
     * write every byte once in Java before the caller does, then fault each 4 KB page in. The kernel's own cost
     * remains: on the workplace VM, populating 576 MB took 0.26 s. Falls back to {@code arena.allocate} where mmap
     * is not reachable or fails.
     */
    public static MemorySegment allocateUninitialized(long bytes, Arena arena) {
        if (MMAP != null && MUNMAP != null && bytes > 0) {
            try {
                MemorySegment raw = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, bytes, PROT_READ_WRITE,
                        MAP_PRIVATE_ANONYMOUS_POPULATE, -1, 0L);
                if (raw.address() != -1L && raw.address() != 0L) {
                    return raw.reinterpret(bytes, arena, s -> {
                        try {
                            int rc = (int) MUNMAP.invokeExact(s, bytes);
                        } catch (Throwable ignored) {
                            // unmapping at arena close is best effort
                        }
                    });
                }
            } catch (Throwable ignored) {
                // fall back below
            }
        }
        return arena.allocate(bytes, 64);
    }

    /** Releases the whole pages inside a mapped segment (partial pages at either end are kept). */
    public static void release(MemorySegment mapped) {
        advise(mapped, MADV_DONTNEED);
    }

    /**
     * Advises huge pages (MADV_HUGEPAGE) for a mapped weights file that is streamed once per token. Linux (6.x, on file
     * systems with large folios such as ext4) keeps a file in the page cache in folios of up to 2 MB and maps a whole
     * 2 MB folio with one page-table entry (file mappings of 2 MB and more are placed 2 MB-aligned): one TLB entry
     * instead of 512, and the hardware prefetchers do not stop every 4 KB. Folios get that large when the file was
     * written in large writes ({@link SafeTensorsWriter}) or is read cold through a mapping with this advice; a file
     * copied in small writes stays in small folios until it leaves the cache. On the workplace VM (kernel 6.18),
     * streaming the 2.9 GB full-size model read 26–28 GB/s on one core from 2 MB folios against 21–23 from 4 KB ones.
     */
    public static void hugePages(MemorySegment mapped) {
        // Outward: the page shared by two large neighbours must not split them into separate areas (a 2 MB entry
        // cannot cross one), which would cost the 2 MB around every boundary.
        advise(mapped, MADV_HUGEPAGE, true);
    }

    /**
     * Keeps a mapped range on 4 KB pages (MADV_NOHUGEPAGE), also where the page cache holds 2 MB folios: for data
     * read sparsely, where one 2 MB entry would make a whole 2 MB resident.
     */
    public static void noHugePages(MemorySegment mapped) {
        advise(mapped, MADV_NOHUGEPAGE, true); // outward: a page shared with a large neighbour stays small too
    }

    /**
     * Marks a mapped segment as read at random places (MADV_RANDOM): a page fault then maps only that page,
     * without read-ahead or the neighbouring pages, so looking up a few rows of a large table (token
     * embeddings) keeps only those rows resident.
     */
    public static void randomAccess(MemorySegment mapped) {
        noHugePages(mapped); // one 2 MB entry per looked-up row would make the whole table resident
        advise(mapped, MADV_RANDOM);
    }

    private static void advise(MemorySegment mapped, int advice) {
        advise(mapped, advice, false);
    }

    /** Advice for the whole pages inside the segment, or with {@code outward} for every page it touches. */
    private static void advise(MemorySegment mapped, int advice, boolean outward) {
        if (MADVISE == null || !mapped.isNative() || !mapped.isMapped()) return;
        long start = mapped.address(), end = start + mapped.byteSize();
        long first = outward ? start & -PAGE : (start + PAGE - 1) & -PAGE;
        long last = outward ? (end + PAGE - 1) & -PAGE : end & -PAGE;
        if (last <= first) return;
        try {
            int rc = (int) MADVISE.invokeExact(MemorySegment.ofAddress(first), last - first, advice);
        } catch (Throwable ignored) {
            // best effort only
        }
    }
}
