package io.instella.api;

/**
 * Receives an answer while it is produced. Only {@link #onText} must be implemented, so a lambda works:
 * {@code model.generate(chat, options, System.out::print)}. Calls come from the thread that called
 * {@code generate}, in order.
 */
@FunctionalInterface
public interface GenerationListener {

    /**
     * The next piece of the answer. Pieces never split a character and never show the beginning of a stop
     * string that is then cut; concatenated they equal {@link Response#text()}.
     *
     * @param delta the new text
     */
    void onText(String delta);

    /**
     * Images of the conversation that the model has not seen yet are being encoded: called with {@code done = 0}
     * before the first, then after each ({@code done} of {@code total}).
     *
     * @param done  images encoded so far
     * @param total images to encode for this answer
     */
    default void onImageEncoded(int done, int total) {
    }

    /**
     * The prompt is running through the language model: {@code done} of {@code total} positions (positions
     * reused from the previous answer of the same conversation are not counted).
     *
     * @param done  positions computed so far
     * @param total positions to compute
     */
    default void onPromptProgress(int done, int total) {
    }
}
