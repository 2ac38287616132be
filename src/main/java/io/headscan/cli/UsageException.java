package io.headscan.cli;

/** A flag or argument the user got wrong, found after parsing (a value out of range, flags that conflict): exit code 2. */
final class UsageException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
