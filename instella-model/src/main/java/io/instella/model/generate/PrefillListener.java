package io.instella.model.generate;

/** Progress of a prompt running through the language model: {@code done} of {@code total} new positions. */
@FunctionalInterface
public interface PrefillListener {
    void onProgress(int done, int total);

    PrefillListener NONE = (done, total) -> {};
}
