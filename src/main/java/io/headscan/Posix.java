package io.headscan;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;
import java.util.Optional;

/**
 * Every libc call headscan makes (mmap, munmap, madvise, open, flock, close, setenv), linked once through FFM, in one
 * place. Where they cannot be linked (not Linux, or a lookup fails) {@link #unavailable()} says why, and each caller
 * falls back (heap-free arena buffers, no download lock, no OpenBLAS thread timeout) or reports that reason.
 */
public final class Posix {

    public static final int PROT_READ_WRITE = 0x3, MAP_PRIVATE_ANONYMOUS = 0x22, MADV_HUGEPAGE = 14;
    public static final int O_RDWR = 2, O_CREAT = 0100, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    private static final String UNAVAILABLE;
    private static final MethodHandle MMAP, MUNMAP, MADVISE, OPEN, FLOCK, CLOSE, SETENV, FADVISE;
    public static final int O_RDONLY = 0, POSIX_FADV_WILLNEED = 3;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null, open = null, flock = null, close = null, setenv = null, fadvise = null;
        String why = null;
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux")) {
            why = "libc calls are linked on Linux only (os.name " + System.getProperty("os.name") + ")";
        } else {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                ValueLayout L = ValueLayout.JAVA_LONG, I = ValueLayout.JAVA_INT, A = ValueLayout.ADDRESS;
                mmap = linker.downcallHandle(libc.findOrThrow("mmap"), FunctionDescriptor.of(L, L, L, I, I, I, L));
                munmap = linker.downcallHandle(libc.findOrThrow("munmap"), FunctionDescriptor.of(I, L, L));
                madvise = linker.downcallHandle(libc.findOrThrow("madvise"), FunctionDescriptor.of(I, L, L, I));
                open = linker.downcallHandle(libc.findOrThrow("open"), FunctionDescriptor.of(I, A, I, I), Linker.Option.firstVariadicArg(2));
                flock = linker.downcallHandle(libc.findOrThrow("flock"), FunctionDescriptor.of(I, I, I));
                close = linker.downcallHandle(libc.findOrThrow("close"), FunctionDescriptor.of(I, I));
                setenv = linker.downcallHandle(libc.findOrThrow("setenv"), FunctionDescriptor.of(I, A, A, I));
                fadvise = linker.downcallHandle(libc.findOrThrow("posix_fadvise"), FunctionDescriptor.of(I, I, L, L, I));
            } catch (RuntimeException | LinkageError e) {
                mmap = munmap = madvise = open = flock = close = setenv = fadvise = null;
                why = "cannot link libc: " + e;
            }
        }
        UNAVAILABLE = why;
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
        OPEN = open;
        FLOCK = flock;
        CLOSE = close;
        SETENV = setenv;
        FADVISE = fadvise;
    }

    private Posix() {}

    /** Why the libc calls cannot be made here; empty when they can. */
    public static Optional<String> unavailable() {
        return Optional.ofNullable(UNAVAILABLE);
    }

    private static void require() {
        if (UNAVAILABLE != null) throw new UnsupportedOperationException(UNAVAILABLE);
    }

    /** mmap(2); returns the address, or -1 (MAP_FAILED). */
    public static long mmap(long addr, long length, int prot, int flags, int fd, long offset) {
        require();
        try {
            return (long) MMAP.invokeExact(addr, length, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int munmap(long addr, long length) {
        require();
        try {
            return (int) MUNMAP.invokeExact(addr, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int madvise(long addr, long length, int advice) {
        require();
        try {
            return (int) MADVISE.invokeExact(addr, length, advice);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** open(2) of a path; returns the descriptor or -1. */
    public static int open(String path, int flags, int mode) {
        require();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocateFrom(path);
            return (int) OPEN.invokeExact(p, flags, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int flock(int fd, int operation) {
        require();
        try {
            return (int) FLOCK.invokeExact(fd, operation);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int close(int fd) {
        require();
        try {
            return (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setenv(3) in this process's C environment (what native libraries read; Java's System.getenv is a copy). */
    public static int setenv(String name, String value, boolean overwrite) {
        require();
        try (Arena arena = Arena.ofConfined()) {
            return (int) SETENV.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), overwrite ? 1 : 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Asks the kernel to read a file into the page cache in the background (posix_fadvise WILLNEED): returns at once,
     * costs nothing for a file already cached, and copies nothing into this process. False when it could not ask.
     */
    public static boolean readAhead(java.nio.file.Path file) {
        if (UNAVAILABLE != null) return false;
        int fd = open(file.toString(), O_RDONLY, 0);
        if (fd < 0) return false;
        try {
            return (int) FADVISE.invokeExact(fd, 0L, 0L, POSIX_FADV_WILLNEED) == 0;
        } catch (Throwable t) {
            return false;
        } finally {
            close(fd);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
