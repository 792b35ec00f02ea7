package io.instella.model.generate;

import java.util.Locale;

/** Why generation ended, named as the OpenAI API and llama.cpp name it. */
public enum FinishReason {
    /** end-of-sequence token or a stop string */
    STOP,
    /** max_new_tokens reached */
    LENGTH,
    /** the caller cancelled */
    CANCELLED;

    public String apiName() { return name().toLowerCase(Locale.ROOT); }
}
