package io.headscan.hub;

import io.headscan.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * An exclusive lock on {@code .locks/models--…/{etag}.lock}, taken with {@code flock(2)} — the call
 * huggingface_hub's file lock uses — so Python and Java downloaders of the same blob exclude each other
 * (Java's own {@code FileChannel.lock} uses fcntl record locks, which do not interact with flock).
 * flock locks belong to an open file description, so two threads of one process also exclude each other.
 * The libc calls are {@link Posix}'s.
 */
final class HubFileLock implements AutoCloseable {

    private final int fd;
    private final Path path;

    private HubFileLock(int fd, Path path) {
        this.fd = fd;
        this.path = path;
    }

    /** Waits up to {@code timeout} for the lock (polling, so the wait can be bounded and interrupted). */
    static HubFileLock acquire(Path lockFile, Duration timeout) throws IOException {
        Files.createDirectories(lockFile.getParent());
        if (Posix.unavailable().isPresent()) throw new IOException("cannot lock " + lockFile + ": " + Posix.unavailable().get());
        int fd;
        try {
            fd = Posix.open(lockFile.toString(), Posix.O_RDWR | Posix.O_CREAT, 0644);
        } catch (RuntimeException t) {
            throw new IOException("cannot open lock file " + lockFile + ": " + t, t);
        }
        if (fd < 0) throw new IOException("cannot open lock file " + lockFile);
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                int rc = Posix.flock(fd, Posix.LOCK_EX | Posix.LOCK_NB);
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
        } catch (RuntimeException t) {
            closeQuietly(fd);
            throw new IOException("flock failed on " + lockFile + ": " + t, t);
        }
    }

    private static void closeQuietly(int fd) {
        try {
            Posix.close(fd);
        } catch (RuntimeException ignored) {
            // nothing more to do
        }
    }

    Path path() {
        return path;
    }

    @Override
    public void close() {
        try {
            Posix.flock(fd, Posix.LOCK_UN);
        } catch (RuntimeException ignored) {
            // closing the descriptor releases the lock anyway
        }
        closeQuietly(fd);
    }
}
