package io.headscan.format;

import java.nio.file.Path;

/**
 * A safetensors file broke one of the format's rules (or could not be read).
 * Each {@link Kind} is a distinct, named error; the message always names the file and,
 * where one is involved, the tensor.
 */
public final class SafetensorsException extends CheckpointFormatException {

    /** The named error kinds; see docs/formats.md §1 and §3. */
    public enum Kind {
        HEADER_TOO_SMALL("header too small"),
        HEADER_TOO_LARGE("header too large"),
        INVALID_HEADER_LENGTH("invalid header length"),
        INVALID_HEADER("invalid header"),
        INVALID_JSON("invalid JSON header"),
        UNKNOWN_DTYPE("unknown dtype"),
        UNSUPPORTED_DTYPE("unsupported dtype"),
        INVALID_SHAPE("invalid shape"),
        INVALID_OFFSETS("invalid data offsets"),
        MISSING_FIELD("missing field"),
        UNKNOWN_FIELD("unknown field"),
        INVALID_METADATA("invalid metadata"),
        DUPLICATE_KEY("duplicate key"),
        MISALIGNED_TENSOR("tensors not contiguous"),
        SIZE_MISMATCH("tensor size mismatch"),
        FILE_SIZE_MISMATCH("file size mismatch"),
        TENSOR_NOT_FOUND("tensor not found"),
        WRONG_DTYPE("wrong dtype"),
        CLOSED("file closed"),
        CHANGED_WHILE_MAPPED("file changed or truncated while in use"),
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
    private final String tensor;

    public SafetensorsException(Kind kind, Path file, String tensor, String detail) {
        this(kind, file, tensor, detail, null);
    }

    public SafetensorsException(Kind kind, Path file, String tensor, String detail, Throwable cause) {
        super(Container.SAFETENSORS, file, format(kind, file, tensor, detail), cause);
        this.kind = kind;
        this.tensor = tensor;
    }

    private static String format(Kind kind, Path file, String tensor, String detail) {
        StringBuilder sb = new StringBuilder();
        sb.append(prefix(file)).append(kind.label());
        if (tensor != null) sb.append(" (tensor '").append(tensor).append("')");
        if (detail != null && !detail.isEmpty()) sb.append(": ").append(detail);
        return sb.toString();
    }

    public Kind kind() {
        return kind;
    }

    /** The tensor involved, or null when the error concerns the whole file. */
    public String tensor() {
        return tensor;
    }
}
