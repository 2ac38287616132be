package io.headscan.format;

import java.nio.file.Path;

/**
 * A {@code config.json} beside a checkpoint that headscan will not use: not one JSON object (or too large or too deeply
 * nested to be one a model needs), a value of the wrong type, or a value that contradicts the weights it describes.
 * A present but unusable config is never treated as absent: its head count would otherwise be guessed.
 */
public final class ConfigJsonException extends CheckpointFormatException {

    /** The named error kinds. */
    public enum Kind {
        INVALID_JSON("not valid JSON"),
        TOO_LARGE("too large"),
        INVALID_VALUE("invalid value"),
        CONTRADICTS_WEIGHTS("contradicts the weights"),
        UNSUPPORTED("not supported"),
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

    public ConfigJsonException(Kind kind, Path config, String detail) {
        this(kind, config, detail, null);
    }

    public ConfigJsonException(Kind kind, Path config, String detail, Throwable cause) {
        super(Container.CONFIG_JSON, config, message(config, kind.label(), detail), cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
