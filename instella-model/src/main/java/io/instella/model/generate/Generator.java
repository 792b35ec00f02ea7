package io.instella.model.generate;

import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.lm.KVCache;

/**
 * Autoregressive generation with a KV cache: the prompt (text and image rows) runs through the language
 * model in one pass, then one token per step (a {@link GenerationSession} driven to the end). Stops on the
 * end-of-sequence ids, a stop string, {@code maxNewTokens} or cancellation; streams text deltas that never
 * split a UTF-8 character and never show the beginning of a stop string that is then cut.
 */
public final class Generator {
    private final InstellaVL model;

    public Generator(InstellaVL model) {
        this.model = model;
    }

    /** Checks the prompt and budget against the context; the message says what to change. */
    public void checkContext(PreparedPrompt prompt, int maxNewTokens, int contextLength) {
        int len = prompt.sequenceLength();
        String what = prompt.numImageTokens() > 0
                ? len + " tokens (" + prompt.numImageTokens() + " of them image tokens)" : len + " tokens";
        if (len > contextLength) {
            throw new InstellaException("the prompt is " + what + ", longer than the context of " + contextLength
                    + " tokens; shorten the prompt" + (prompt.numImageTokens() > 0 ? " or use fewer or smaller images" : "")
                    + ", or raise the context length (--ctx)");
        }
        if ((long) len + maxNewTokens > contextLength) {
            throw new InstellaException("the prompt (" + what + ") plus max_new_tokens " + maxNewTokens + " exceeds the context of "
                    + contextLength + " tokens; lower max_new_tokens to at most " + (contextLength - len) + " or raise --ctx");
        }
    }

    public GenerationResult generate(PreparedPrompt prompt, GenerationOptions options, TokenListener listener) {
        return generate(prompt, options, listener, model.contextLength(), false);
    }

    /**
     * @param keepPromptTensors also return the prompt's final hidden states and last logits (for --dump-tensors)
     */
    public GenerationResult generate(PreparedPrompt prompt, GenerationOptions options, TokenListener listener,
                                     int contextLength, boolean keepPromptTensors) {
        checkContext(prompt, options.maxNewTokens(), contextLength);
        GenerationSession session = GenerationSession.fresh(model, prompt, options, listener, contextLength, keepPromptTensors);
        session.prefill(Math.max(1, prompt.sequenceLength()));
        while (!session.finished()) session.decodeOne();
        return session.result();
    }

    /**
     * Generation that continues a KV cache (multi-turn sessions). {@code cache} holds the first
     * {@code cache.length()} positions of this very prompt (the caller checked that they match; at most
     * {@code sequenceLength - 1} are kept, since the last position must run to give logits). Only the rest of the
     * prompt runs through the model, in chunks of {@value #PREFILL_CHUNK} positions, with progress reported and
     * cancellation checked between chunks. The context is the cache's maximum length. Afterwards the cache holds
     * the prompt and the generated tokens that were fed back.
     */
    public GenerationResult generate(PreparedPrompt prompt, GenerationOptions options, TokenListener listener,
                                     KVCache cache, PrefillListener progress) {
        checkContext(prompt, options.maxNewTokens(), cache.maxLength());
        PrefillListener report = progress != null ? progress : PrefillListener.NONE;
        int length = prompt.sequenceLength();
        int start = Math.min(cache.length(), length - 1);
        GenerationSession session = new GenerationSession(model, prompt, options, listener, cache, start, false);
        while (session.state() == GenerationSession.State.PREFILL) {
            if (options.cancelled().getAsBoolean()) {
                session.cancel();
                return session.result();
            }
            session.prefill(PREFILL_CHUNK);
            report.onProgress(length - session.remainingPrompt() - start, length - start);
        }
        while (!session.finished()) session.decodeOne();
        return session.result();
    }

    /** Positions per prefill pass in {@link #generate(PreparedPrompt, GenerationOptions, TokenListener, KVCache, PrefillListener)}. */
    public static final int PREFILL_CHUNK = 256;
}
