package io.headscan.model;

import java.nio.file.Path;

/** A file that is not a usable GPT-2 checkpoint (missing tensor, wrong shape, bad config, unknown head...). */
public final class ModelException extends RuntimeException {

    public ModelException(Path file, String message) {
        super((file == null ? "" : file + ": ") + message);
    }

    public ModelException(Path file, String message, Throwable cause) {
        super((file == null ? "" : file + ": ") + message, cause);
    }
}
