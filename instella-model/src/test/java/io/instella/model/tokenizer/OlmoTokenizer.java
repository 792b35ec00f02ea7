package io.instella.model.tokenizer;

import io.instella.core.testing.Golden;

/** The golden OLMo "pii-special" tokenizer, loaded once per test JVM (loading takes about a second). */
final class OlmoTokenizer {
    private static Tokenizer instance;

    private OlmoTokenizer() {}

    /** The tokenizer; skips the calling test when the golden set is absent (fails under CI=true). */
    static synchronized Tokenizer get() {
        if (instance == null) {
            instance = Tokenizer.load(Golden.dir().resolve("model/tokenizer.json"));
        }
        return instance;
    }
}
