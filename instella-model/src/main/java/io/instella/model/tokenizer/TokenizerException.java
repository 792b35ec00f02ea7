package io.instella.model.tokenizer;

/**
 * A tokenizer file that cannot be loaded (missing, unreadable, not JSON, or describing a tokenizer this
 * implementation does not support). The message names the file and the problem.
 */
public class TokenizerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TokenizerException(String message) {
        super(io.instella.core.util.UserMessages.abbreviate(message));
    }

    public TokenizerException(String message, Throwable cause) {
        super(io.instella.core.util.UserMessages.abbreviate(message), cause);
    }
}
