package io.headscan.tokenize;

import java.nio.file.Path;

/**
 * A tokenizer that cannot be used: a {@code tokenizer.json} that is missing, damaged or refused by the tokenizers library,
 * or the library itself unavailable. The message is one line naming the file (or the folder a file was expected in).
 */
public final class TokenizerException extends RuntimeException {

    private final transient Path file;

    public TokenizerException(Path file, String detail) {
        this(file, detail, null);
    }

    public TokenizerException(Path file, String detail, Throwable cause) {
        super(io.headscan.format.Printable.line(((file == null ? "" : file + ": ") + detail).replace('\n', ' ')), cause);
        this.file = file;
    }

    /** The file (or folder) the error is about; null when it is about none. */
    public Path file() {
        return file;
    }
}
