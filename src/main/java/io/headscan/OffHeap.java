package io.headscan;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Off-heap working buffers. Large ones (2 MiB and up) are anonymous mappings aligned to 2 MiB with
 * {@code madvise(MADV_HUGEPAGE)} on Linux: the kernel zero-fills them lazily in 2 MiB pages, so a 154 MB factor
 * buffer costs ~80 page faults instead of ~38,000 (on virtual machines each 4 KiB fault can cost over 10 µs,
 * and {@link Arena#allocate} also zeroes eagerly). Elsewhere, or when the mapping fails, they come from the arena.
 * Either way they are freed when the arena closes and start zeroed.
 */
public final class OffHeap {

    private static final long HUGE_PAGE = 2L << 20;
    private static final int PROT_READ_WRITE = 0x3, MAP_PRIVATE_ANONYMOUS = 0x22, MADV_HUGEPAGE = 14;
    private static final MethodHandle MMAP, MUNMAP, MADVISE;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null;
        if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")
                && !"0".equals(System.getProperty("headscan.hugepages", System.getenv().getOrDefault("HEADSCAN_HUGEPAGES", "1")))) {
            try {
                Linker linker = Linker.nativeLinker();
                var libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            } catch (RuntimeException | LinkageError e) {
                mmap = munmap = madvise = null;
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    private OffHeap() {}

    /** {@code bytes} zeroed bytes, 64-byte aligned at least, freed when {@code arena} closes. */
    public static MemorySegment allocate(Arena arena, long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative size " + bytes);
        if (bytes < HUGE_PAGE || MMAP == null) return arena.allocate(bytes, 64);
        long used = roundUp(bytes, HUGE_PAGE), length = used + HUGE_PAGE;
        long base;
        try {
            base = (long) MMAP.invokeExact(0L, length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable t) {
            return arena.allocate(bytes, 64);
        }
        if (base == -1L || base == 0L) return arena.allocate(bytes, 64);
        long aligned = roundUp(base, HUGE_PAGE);
        try {
            int ignored = (int) MADVISE.invokeExact(aligned, used, MADV_HUGEPAGE);   // a refusal only costs speed
        } catch (Throwable t) {
            // same
        }
        return MemorySegment.ofAddress(aligned).reinterpret(bytes, arena, s -> unmap(base, length));
    }

    private static void unmap(long base, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(base, length);
        } catch (Throwable t) {
            // nothing sensible to do while an arena closes; the memory stays reserved
        }
    }

    private static long roundUp(long x, long to) {
        return (x + to - 1) / to * to;
    }
}
