package io.instella.model.generate;

/** Receives generated tokens as they come. {@code textDelta} is the newly completed text (may be empty). */
@FunctionalInterface
public interface TokenListener {
    void onToken(int tokenId, String textDelta);

    TokenListener NONE = (id, text) -> {};
}
