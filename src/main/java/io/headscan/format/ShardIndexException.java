package io.headscan.format;

import java.nio.file.Path;

/**
 * A shard index ({@code model.safetensors.index.json}, {@code pytorch_model.bin.index.json}) that headscan will not
 * read: not the JSON it should be, a shard name that is not a plain weights file name beside the index, an index that
 * names itself or another index, a shard that is missing or does not hold what the index says (docs/formats.md §7).
 * The message names the index and, where one is involved, the shard.
 */
public final class ShardIndexException extends CheckpointFormatException {

    /** The named error kinds. */
    public enum Kind {
        INVALID_INDEX("invalid shard index"),
        UNSAFE_SHARD_NAME("unsafe shard name"),
        NOT_A_WEIGHTS_FILE("shard is not a weights file"),
        SELF_REFERENCE("shard index names itself"),
        MISSING_SHARD("missing shard"),
        TENSOR_NOT_IN_SHARD("tensor not in its shard"),
        MIXED_SHARDS("shards of different formats"),
        TENSOR_NOT_FOUND("tensor not found"),
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

    public ShardIndexException(Kind kind, Path index, String detail) {
        this(kind, index, detail, null);
    }

    public ShardIndexException(Kind kind, Path index, String detail, Throwable cause) {
        super(Container.SHARD_INDEX, index, message(index, kind.label(), detail), cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
