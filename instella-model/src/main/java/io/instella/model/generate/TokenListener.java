package io.instella.model.generate;

/** Receives generated tokens as they come. {@code textDelta} is the newly completed text (may be empty). */
@FunctionalInterface
public interface TokenListener {
    void onToken(int tokenId, String textDelta);

    /**
     * The same, with the token's log-probability when they were asked for (else null). {@code tokenId} is -1
     * for the held-back tail of text released when generation ends.
     */
    default void onToken(int tokenId, String textDelta, TokenLogprob logprob) {
        onToken(tokenId, textDelta);
    }

    TokenListener NONE = (id, text) -> {};
}
