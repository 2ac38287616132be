package io.headscan.hub;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * An exclusive lock on {@code .locks/models--…/{etag}.lock}, taken with {@code flock(2)} — the call
 * huggingface_hub's file lock uses — so Python and Java downloaders of the same blob exclude each other
 * (Java's own {@code FileChannel.lock} uses fcntl record locks, which do not interact with flock).
 * flock locks belong to an open file description, so two threads of one process also exclude each other.
 * All native linking is here, resolved once.
 */
final class HubFileLock implements AutoCloseable {

    private static final int O_RDWR = 2, O_CREAT = 0100, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
    private static final MethodHandle OPEN, FLOCK, CLOSE;

    static {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        OPEN = linker.downcallHandle(libc.findOrThrow("open"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
                Linker.Option.firstVariadicArg(2));
        FLOCK = linker.downcallHandle(libc.findOrThrow("flock"), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        CLOSE = linker.downcallHandle(libc.findOrThrow("close"), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    private final int fd;
    private final Path path;

    private HubFileLock(int fd, Path path) {
        this.fd = fd;
        this.path = path;
    }

    /** Waits up to {@code timeout} for the lock (polling, so the wait can be bounded and interrupted). */
    static HubFileLock acquire(Path lockFile, Duration timeout) throws IOException {
        Files.createDirectories(lockFile.getParent());
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocateFrom(lockFile.toString());
            fd = (int) OPEN.invokeExact(p, O_RDWR | O_CREAT, 0644);
        } catch (Throwable t) {
            throw new IOException("cannot open lock file " + lockFile + ": " + t, t);
        }
        if (fd < 0) throw new IOException("cannot open lock file " + lockFile);
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                int rc = (int) FLOCK.invokeExact(fd, LOCK_EX | LOCK_NB);
                if (rc == 0) return new HubFileLock(fd, lockFile);
                if (System.nanoTime() > deadline) {
                    throw new IOException("timed out after " + timeout.toSeconds() + " s waiting for " + lockFile
                            + " (another download of the same file is running)");
                }
                Thread.sleep(50);
            }
        } catch (InterruptedException e) {
            closeQuietly(fd);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for " + lockFile, e);
        } catch (IOException e) {
            closeQuietly(fd);
            throw e;
        } catch (Throwable t) {
            closeQuietly(fd);
            throw new IOException("flock failed on " + lockFile + ": " + t, t);
        }
    }

    private static void closeQuietly(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable ignored) {
            // nothing more to do
        }
    }

    Path path() {
        return path;
    }

    @Override
    public void close() {
        try {
            int ignored = (int) FLOCK.invokeExact(fd, LOCK_UN);
        } catch (Throwable ignored) {
            // closing the descriptor releases the lock anyway
        }
        closeQuietly(fd);
    }
}
