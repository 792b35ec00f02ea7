package io.instella.model.generate;

import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.lm.KVCache;
import io.instella.model.lm.OlmoModel;
import io.instella.model.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Autoregressive generation with a KV cache: the prompt (text and image rows) runs through the language
 * model in one pass, then one token per step. Stops on the end-of-sequence ids, a stop string,
 * {@code maxNewTokens} or cancellation; streams text deltas that never split a UTF-8 character and never
 * show the beginning of a stop string that is then cut.
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
        int L = prompt.sequenceLength();
        KVCache cache = model.languageModel().newCache(Math.min(contextLength, L + Math.max(1, options.maxNewTokens())));
        return run(prompt, options, listener, cache, keepPromptTensors, null);
    }

    /**
     * Generation that continues a KV cache (multi-turn sessions). {@code cache} holds the first
     * {@code cache.length()} positions of this very prompt (the caller checked that they match; at most
     * {@code sequenceLength - 1} are kept, since the last position must run to give logits). Only the rest of the
     * prompt runs through the model, in chunks of {@value #PREFILL_CHUNK} positions, with progress reported and
     * cancellation checked between chunks. The context is the cache's maximum length. Afterwards the cache holds
     * the prompt and the generated tokens that were fed back: {@code cache.length() - sequenceLength} of them.
     */
    public GenerationResult generate(PreparedPrompt prompt, GenerationOptions options, TokenListener listener,
                                     KVCache cache, PrefillListener progress) {
        checkContext(prompt, options.maxNewTokens(), cache.maxLength());
        return run(prompt, options, listener, cache, false, progress != null ? progress : PrefillListener.NONE);
    }

    /** Positions per prefill pass in {@link #generate(PreparedPrompt, GenerationOptions, TokenListener, KVCache, PrefillListener)}. */
    public static final int PREFILL_CHUNK = 256;

    private GenerationResult run(PreparedPrompt prompt, GenerationOptions options, TokenListener listener,
                                 KVCache cache, boolean keepPromptTensors, PrefillListener chunked) {
        if (listener == null) listener = TokenListener.NONE;
        OlmoModel lm = model.languageModel();
        Tokenizer tok = model.tokenizer();
        int allowed = Math.min(tok.vocabSize(), lm.config().vocabSize());
        List<Integer> eos = options.ignoreEos() ? List.of() : model.generationDefaults().eosTokenIds();
        Sampler sampler = new Sampler(options, allowed);

        long t0 = System.nanoTime();
        float[] embeds = model.embed(prompt);
        int L = prompt.sequenceLength();
        float[] hidden;
        float[] logits;
        if (chunked == null) {
            // One pass over the whole prompt: the path the golden parity tests pin down.
            hidden = lm.forward(embeds, L, cache);
            logits = lm.logits(hidden, L - 1);
        } else {
            int h = lm.config().hiddenSize();
            int start = Math.min(cache.length(), L - 1);
            cache.truncate(start);
            hidden = null;
            logits = null;
            for (int done = start; done < L; ) {
                if (options.cancelled().getAsBoolean()) {
                    return new GenerationResult(L, new int[0], "", FinishReason.CANCELLED, List.of(), prompt.visionMillis(),
                            (System.nanoTime() - t0) / 1e6, 0, null, null);
                }
                int n = Math.min(PREFILL_CHUNK, L - done);
                float[] out = lm.forward(Arrays.copyOfRange(embeds, done * h, (done + n) * h), n, cache);
                done += n;
                chunked.onProgress(done - start, L - start);
                if (done == L) logits = lm.logits(out, n - 1);
            }
        }
        long t1 = System.nanoTime();
        float[] keptHidden = keepPromptTensors ? hidden : null;
        float[] keptLogits = keepPromptTensors ? logits.clone() : null;

        int[] textIds = prompt.textIds();
        int[] context = Arrays.copyOf(textIds, textIds.length + options.maxNewTokens());
        int contextLen = textIds.length;
        int[] generated = new int[options.maxNewTokens()];
        int n = 0;
        List<TokenLogprob> logprobs = options.logprobs() ? new ArrayList<>() : null;
        StopStringFilter filter = new StopStringFilter(options.stopStrings());
        FinishReason reason = FinishReason.LENGTH;
        String text;
        // Incremental decoding keeps streaming linear in the number of tokens.
        var decoder = tok.newIncrementalDecoder(true);
        StringBuilder decoded = new StringBuilder();
        float[] one = new float[lm.config().hiddenSize()];
        while (n < options.maxNewTokens()) {
            if (options.cancelled().getAsBoolean()) {
                reason = FinishReason.CANCELLED;
                break;
            }
            int next = sampler.next(logits, context, contextLen, generated, n);
            if (eos.contains(next)) {
                reason = FinishReason.STOP;
                break;
            }
            generated[n++] = next;
            context[contextLen++] = next;
            if (logprobs != null) logprobs.add(logprob(logits, allowed, next, options.topLogprobs(), tok));
            decoded.append(decoder.push(next));
            StopStringFilter.Step step = filter.accept(decoded.toString());
            if (!step.delta().isEmpty() || step.stopped()) listener.onToken(next, step.delta());
            else listener.onToken(next, "");
            if (step.stopped()) {
                reason = FinishReason.STOP;
                break;
            }
            if (n == options.maxNewTokens()) break;
            lm.embed(new int[]{next}, 0, 1, one, 0);
            float[] h = lm.forward(one, 1, cache);
            logits = lm.logits(h, 0);
        }
        decoded.append(decoder.finish());
        text = filter.finish(decoded.toString());
        String tail = filter.pendingTail();
        if (!tail.isEmpty()) listener.onToken(-1, tail);
        long t2 = System.nanoTime();
        return new GenerationResult(L, Arrays.copyOf(generated, n), text, reason, logprobs == null ? List.of() : logprobs,
                prompt.visionMillis(), (t1 - t0) / 1e6, (t2 - t1) / 1e6, keptHidden, keptLogits);
    }

    private static TokenLogprob logprob(float[] logits, int allowed, int chosen, int top, Tokenizer tok) {
        double[] lp = Sampler.logSoftmax(logits, allowed);
        List<TokenLogprob.Alternative> alts = new ArrayList<>();
        if (top > 0) {
            Integer[] idx = new Integer[allowed];
            for (int i = 0; i < allowed; i++) idx[i] = i;
            Arrays.sort(idx, (a, b) -> Double.compare(lp[b], lp[a]));
            for (int i = 0; i < top && i < allowed; i++) {
                alts.add(new TokenLogprob.Alternative(idx[i], tok.decode(new int[]{idx[i]}, false), lp[idx[i]]));
            }
        }
        return new TokenLogprob(chosen, tok.decode(new int[]{chosen}, false), lp[chosen], alts);
    }
}
