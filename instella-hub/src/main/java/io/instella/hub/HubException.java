package io.instella.hub;

import java.util.Objects;

/** A download or cache lookup failed; {@link #kind()} says why, the message says what to do. */
public final class HubException extends RuntimeException {

    /** Broad cause of the failure, for callers that react differently (e.g. exit codes). */
    public enum Kind {
        /** 401/403: private or gated repository, missing or rejected token. */
        AUTH,
        /** 404: repository, revision or file does not exist. */
        NOT_FOUND,
        /** HF_HUB_OFFLINE is set and the cache does not hold what was asked for. */
        OFFLINE,
        /** The Hub could not be reached, timed out, or answered with a server error. */
        NETWORK,
        /** Local file system problem: disk full, permissions, not a directory. */
        IO,
        /** Downloaded bytes do not match the size or checksum the Hub announced. */
        INTEGRITY
    }

    private final Kind kind;

    public HubException(Kind kind, String message) {
        super(message);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public HubException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public Kind kind() {
        return kind;
    }
}
