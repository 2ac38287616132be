package io.headscan.format;

import java.nio.file.Path;

/**
 * A PyTorch checkpoint that headscan will not read: a damaged or unusual ZIP container, a pickle that asks for
 * anything outside the strict allow-list, or a tensor in a form headscan does not map. Each {@link Kind} is a distinct,
 * named error; the message names the file and, where one is involved, the ZIP entry, pickle global or tensor.
 * {@link #container()} is {@link Container#PICKLE} for the errors of {@code data.pkl}, {@link Container#PYTORCH_ZIP}
 * for the others.
 */
public final class PyTorchException extends CheckpointFormatException {

    /** The named error kinds (docs/formats.md, "PyTorch checkpoints"). */
    public enum Kind {
        NOT_A_ZIP("not a ZIP archive"),
        INVALID_ZIP("invalid ZIP archive"),
        COMPRESSED_ENTRY("compressed ZIP entry"),
        OVERLAPPING_ENTRIES("overlapping ZIP entries"),
        DUPLICATE_ENTRY("duplicate ZIP entry"),
        LOCAL_HEADER_MISMATCH("local header differs from the central directory"),
        ENTRY_OUT_OF_BOUNDS("ZIP entry runs past the end of the file"),
        MISSING_RECORD("missing record"),
        FORBIDDEN_GLOBAL("forbidden pickle global", true),
        FORBIDDEN_OPCODE("forbidden pickle opcode", true),
        FORBIDDEN_CALL("forbidden pickle call", true),
        INVALID_PICKLE("invalid pickle", true),
        PICKLE_LIMIT("pickle exceeds a limit", true),
        NOT_A_STATE_DICT("not a state dict", true),
        INVALID_TENSOR("invalid tensor"),
        UNSUPPORTED_TENSOR("unsupported tensor"),
        BIG_ENDIAN("big-endian checkpoint"),
        LEGACY_FORMAT("legacy PyTorch format"),
        TENSOR_NOT_FOUND("tensor not found"),
        CLOSED("file closed"),
        CHANGED_WHILE_MAPPED("file changed or truncated while in use"),
        IO("I/O error");

        private final String label;
        private final boolean pickle;

        Kind(String label) {
            this(label, false);
        }

        Kind(String label, boolean pickle) {
            this.label = label;
            this.pickle = pickle;
        }

        public String label() {
            return label;
        }
    }

    private final Kind kind;

    public PyTorchException(Kind kind, Path file, String detail) {
        this(kind, file, detail, null);
    }

    public PyTorchException(Kind kind, Path file, String detail, Throwable cause) {
        super(kind.pickle ? Container.PICKLE : Container.PYTORCH_ZIP, file,
                message(file, kind.label(), detail), cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
