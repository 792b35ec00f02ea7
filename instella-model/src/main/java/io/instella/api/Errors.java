package io.instella.api;

import io.instella.core.safetensors.SafeTensorsException;
import io.instella.hub.HubException;
import io.instella.model.InstellaException;
import io.instella.model.config.ConfigException;
import io.instella.model.image.ImageDecodeException;
import io.instella.model.tokenizer.TokenizerException;

import java.io.UncheckedIOException;

/** Turns the engine's user-facing exceptions into the one public {@link InstellaApiException}. */
final class Errors {
    private Errors() {}

    static RuntimeException wrap(RuntimeException e) {
        if (e instanceof InstellaApiException) return e;
        if (e instanceof InstellaException || e instanceof ConfigException || e instanceof TokenizerException
                || e instanceof ImageDecodeException || e instanceof SafeTensorsException || e instanceof HubException
                || e instanceof UncheckedIOException) {
            return new InstellaApiException(e.getMessage(), e);
        }
        return e;
    }
}
