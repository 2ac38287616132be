package io.headscan.hub;

/** A model could not be found, resolved or downloaded. {@link Kind} names the failure; the message says what to do. */
public final class HubException extends RuntimeException {

    public enum Kind {
        REPO_NOT_FOUND, ENTRY_NOT_FOUND, REVISION_NOT_FOUND, UNAUTHORIZED, GATED, NETWORK, OFFLINE_NOT_CACHED,
        BAD_RESPONSE, SIZE_MISMATCH, HASH_MISMATCH, DISK_FULL, IO, NOT_A_MODEL
    }

    private final Kind kind;

    public HubException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public HubException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
