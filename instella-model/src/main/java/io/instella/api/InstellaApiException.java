package io.instella.api;

/**
 * Every failure of the public API that the caller can act on: a model that cannot be found or downloaded, a
 * damaged or unsupported checkpoint, an unreadable image, a prompt longer than the context. The message says what
 * is wrong and what to do. Programming errors (a null argument, an invalid option value, a conversation that does
 * not alternate) are {@link IllegalArgumentException} / {@link IllegalStateException}.
 */
public final class InstellaApiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * A failure with a message for the user.
     *
     * @param message what is wrong and what to do
     */
    public InstellaApiException(String message) {
        super(message);
    }

    /**
     * A failure with a message for the user and the exception behind it.
     *
     * @param message what is wrong and what to do
     * @param cause   the underlying failure
     */
    public InstellaApiException(String message, Throwable cause) {
        super(message, cause);
    }
}
