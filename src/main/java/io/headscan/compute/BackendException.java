package io.headscan.compute;

/** A compute backend could not be loaded or failed. The message says what was tried. */
public class BackendException extends RuntimeException {

    public BackendException(String message) {
        super(message);
    }

    public BackendException(String message, Throwable cause) {
        super(message, cause);
    }
}
