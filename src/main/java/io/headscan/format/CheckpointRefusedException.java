package io.headscan.format;

import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * A checkpoint file whose reading ran into a JVM limit (the heap, the thread stack) and is refused as damaged or
 * hostile. The parsers bound every length, count and depth by the file before they use it, so a file that still
 * exhausts the heap or the stack while it is being opened is not one headscan will read; the error names the file
 * instead of advising a larger heap, and the memory the attempt took is garbage once this is thrown.
 */
public final class CheckpointRefusedException extends CheckpointFormatException {

    private CheckpointRefusedException(Container container, Path file, String why, Throwable cause) {
        super(container, file, prefix(file) + "refused: " + why, cause);
    }

    /**
     * Runs {@code open} (opening {@code file} as {@code container}) and turns an {@link OutOfMemoryError} or
     * {@link StackOverflowError} it raises into this named refusal of the file.
     */
    public static <T> T whileOpening(Path file, Container container, Supplier<T> open) {
        try {
            return open.get();
        } catch (OutOfMemoryError e) {
            throw new CheckpointRefusedException(container, file, "reading its " + container.label() + " structure needed more than the whole Java heap ("
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB), far beyond what a valid one needs: the file is damaged or hostile", e);
        } catch (StackOverflowError e) {
            throw new CheckpointRefusedException(container, file, "reading its " + container.label()
                    + " structure overflowed the thread stack: the file is damaged or hostile", e);
        }
    }
}
