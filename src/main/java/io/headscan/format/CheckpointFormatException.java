package io.headscan.format;

import java.nio.file.Path;

/**
 * A checkpoint file that headscan refuses to read, or could not read. Every error about a checkpoint file belongs to
 * this one family, whatever its container, and {@link #container()} says which part of the checkpoint it is about: the
 * safetensors file, the PyTorch ZIP, the pickle inside it, the shard index or {@code config.json}. The message is one
 * line that starts with the file.
 *
 * <p>Subclasses add their own named kinds: {@link SafetensorsException}, {@link PyTorchException},
 * {@link ShardIndexException}, {@link ConfigJsonException}, and {@link CheckpointRefusedException} for a file whose
 * reading ran into a JVM limit.
 */
public abstract class CheckpointFormatException extends RuntimeException {

    /** The part of a checkpoint an error is about, in the words a user knows it by. */
    public enum Container {
        SAFETENSORS("safetensors"),
        PYTORCH_ZIP("PyTorch zip"),
        PICKLE("pickle"),
        SHARD_INDEX("shard index"),
        CONFIG_JSON("config.json");

        private final String label;

        Container(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }

        /** The container a file would be opened as, judged by its name alone (for errors before its bytes are read). */
        public static Container byName(Path file) {
            String name = file == null || file.getFileName() == null ? "" : file.getFileName().toString();
            if (name.endsWith(".index.json")) return SHARD_INDEX;
            if (name.equals("config.json")) return CONFIG_JSON;
            if (name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth")) return PYTORCH_ZIP;
            return SAFETENSORS;
        }
    }

    private final Container container;
    /** Transient: a Path does not serialize (the message names the file, and it travels with a Spark task's failure). */
    private final transient Path file;

    protected CheckpointFormatException(Container container, Path file, String message, Throwable cause) {
        super(Printable.line(message), cause);   // one line, whoever prints or stores it
        this.container = container;
        this.file = file;
    }

    /**
     * Whether reading the file failed (an I/O error of the storage: EIO, a stale network file system handle), rather
     * than the file being wrong or missing: another attempt, elsewhere, may read it.
     */
    public boolean readFailed() {
        return getCause() instanceof java.io.IOException io && !(io instanceof java.nio.file.NoSuchFileException)
                && !(io instanceof java.nio.file.AccessDeniedException);
    }

    /** Which part of the checkpoint the error is about. */
    public Container container() {
        return container;
    }

    /** The file the error is about (null only for bytes that never were a file). */
    public Path file() {
        return file;
    }


    /** "{@code file}: {@code label}" and ": {@code detail}" where there is one. */
    static String message(Path file, String label, String detail) {
        return prefix(file) + label + (detail == null || detail.isEmpty() ? "" : ": " + detail);
    }

    /** "{@code file}: " with the placeholder used for bytes in memory. */
    static String prefix(Path file) {
        return (file == null ? "<memory>" : file.toString()) + ": ";
    }
}
