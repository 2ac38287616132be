package io.headscan;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Nothing headscan writes is ever half-written where a reader would find it: files are written next to
 * their target under a temporary name and renamed over it in one step.
 */
public final class AtomicFiles {

    private AtomicFiles() {}

    /** Renames {@code from} over {@code to}, atomically where the file system can. */
    public static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** A new, empty temporary file in the target's folder (created if needed). */
    public static Path tempBeside(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        return Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
    }

    /** Writes text (UTF-8) to a temporary file beside {@code target}, then renames it over the target. */
    public static void writeString(Path target, String text) throws IOException {
        replace(target, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    }

    /** Writes bytes to a temporary file beside {@code target}, then renames it over the target. */
    public static void write(Path target, byte[] bytes) throws IOException {
        replace(target, tmp -> Files.write(tmp, bytes));
    }

    /** Copies {@code source} to a temporary file beside {@code target}, then renames it over the target. */
    public static void copy(Path source, Path target) throws IOException {
        replace(target, tmp -> Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING));
    }

    private interface Fill {
        void into(Path tmp) throws IOException;
    }

    private static void replace(Path target, Fill fill) throws IOException {
        Path tmp = tempBeside(target);
        try {
            fill.into(tmp);
            move(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
