package io.headscan;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Off-heap working buffers. Large ones (2 MiB and up) are anonymous mappings aligned to 2 MiB with
 * {@code madvise(MADV_HUGEPAGE)} on Linux: the kernel zero-fills them lazily in 2 MiB pages, so a 154 MB factor
 * buffer costs ~80 page faults instead of ~38,000 (on virtual machines each 4 KiB fault can cost over 10 µs,
 * and {@link Arena#allocate} also zeroes eagerly). Elsewhere, or when the mapping fails, they come from the arena.
 * Either way they are freed when the arena closes and start zeroed.
 */
public final class OffHeap {

    private static final long HUGE_PAGE = 2L << 20;
    /** Huge-page mappings: libc linked (see {@link Posix}) and not switched off with HEADSCAN_HUGEPAGES=0. */
    private static final boolean MAPPED = Posix.unavailable().isEmpty()
            && !"0".equals(System.getProperty("headscan.hugepages", System.getenv().getOrDefault("HEADSCAN_HUGEPAGES", "1")));

    private OffHeap() {}

    /** {@code bytes} zeroed bytes, 64-byte aligned at least, freed when {@code arena} closes. */
    public static MemorySegment allocate(Arena arena, long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative size " + bytes);
        if (bytes < HUGE_PAGE || !MAPPED) return arena.allocate(bytes, 64);
        long used = roundUp(bytes, HUGE_PAGE), length = used + HUGE_PAGE;
        long base;
        try {
            base = Posix.mmap(0L, length, Posix.PROT_READ_WRITE, Posix.MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (RuntimeException e) {
            return arena.allocate(bytes, 64);
        }
        if (base == -1L || base == 0L) return arena.allocate(bytes, 64);
        long aligned = roundUp(base, HUGE_PAGE);
        try {
            Posix.madvise(aligned, used, Posix.MADV_HUGEPAGE);   // a refusal only costs speed
        } catch (RuntimeException e) {
            // same
        }
        return MemorySegment.ofAddress(aligned).reinterpret(bytes, arena, s -> unmap(base, length));
    }

    private static void unmap(long base, long length) {
        try {
            Posix.munmap(base, length);
        } catch (RuntimeException e) {
            // nothing sensible to do while an arena closes; the memory stays reserved
        }
    }

    private static long roundUp(long x, long to) {
        return (x + to - 1) / to * to;
    }
}
