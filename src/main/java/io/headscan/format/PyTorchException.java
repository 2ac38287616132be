package io.headscan.format;

import java.nio.file.Path;

/**
 * A PyTorch checkpoint that headscan will not read: a damaged or unusual ZIP container, a pickle that asks for
 * anything outside the strict allow-list, or a tensor in a form headscan does not map. Each {@link Kind} is a distinct,
 * named error; the message names the file and, where one is involved, the ZIP entry, pickle global or tensor.
 */
public final class PyTorchException extends RuntimeException {

    /** The named error kinds (docs/formats.md, "PyTorch checkpoints"). */
    public enum Kind {
        NOT_A_ZIP("not a ZIP archive"),
        INVALID_ZIP("invalid ZIP archive"),
        COMPRESSED_ENTRY("compressed ZIP entry"),
        OVERLAPPING_ENTRIES("overlapping ZIP entries"),
        ENTRY_OUT_OF_BOUNDS("ZIP entry runs past the end of the file"),
        MISSING_RECORD("missing record"),
        FORBIDDEN_GLOBAL("forbidden pickle global"),
        FORBIDDEN_OPCODE("forbidden pickle opcode"),
        FORBIDDEN_CALL("forbidden pickle call"),
        INVALID_PICKLE("invalid pickle"),
        PICKLE_LIMIT("pickle exceeds a limit"),
        NOT_A_STATE_DICT("not a state dict"),
        INVALID_TENSOR("invalid tensor"),
        UNSUPPORTED_TENSOR("unsupported tensor"),
        BIG_ENDIAN("big-endian checkpoint"),
        LEGACY_FORMAT("legacy PyTorch format"),
        IO("I/O error");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    private final Kind kind;
    private final Path file;

    public PyTorchException(Kind kind, Path file, String detail) {
        this(kind, file, detail, null);
    }

    public PyTorchException(Kind kind, Path file, String detail, Throwable cause) {
        super((file == null ? "<memory>" : file.toString()) + ": " + kind.label() + (detail == null || detail.isEmpty() ? "" : ": " + detail), cause);
        this.kind = kind;
        this.file = file;
    }

    public Kind kind() {
        return kind;
    }

    public Path file() {
        return file;
    }
}
