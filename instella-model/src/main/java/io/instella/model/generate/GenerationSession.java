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
 * One request's generation, advanced a step at a time by its caller, so that a scheduler can interleave
 * many of them: {@link #prefill(int)} runs the prompt through the language model in chunks; once it is in,
 * each {@link #acceptLogits} (after a forward of {@link #pendingToken()}, alone with {@link #decodeOne()} or
 * batched with {@link DecodeBatch}) samples the next token. Token by token it does exactly what
 * {@link Generator#generate} does (which is built on it): the same sampler, end-of-sequence ids, stop
 * strings, streamed deltas and log-probabilities.
 *
 * <p>A session may start from a KV cache that already holds the first {@code reusedPositions} positions
 * of this prompt (prefix reuse); only the rest is prefilled. A session is confined to one thread at a time.
 */
public final class GenerationSession {
    /** Where a session is: feeding its prompt, generating, or done. */
    public enum State { PREFILL, DECODE, FINISHED }

    private final InstellaVL model;
    private final OlmoModel lm;
    private final Tokenizer tok;
    private final PreparedPrompt prompt;
    private final GenerationOptions options;
    private final TokenListener listener;
    private final KVCache cache;
    private final int reused;
    private final int allowed;
    private final List<Integer> eos;
    private final Sampler sampler;
    private final boolean keepPromptTensors;
    private final int[] context;
    private final int[] generated;
    private final List<TokenLogprob> logprobs;
    private final StopStringFilter filter;

    private State state = State.PREFILL;
    private float[] embeds;
    private int prefilled;
    private int contextLen;
    private int n;
    private int pending = -1;
    private float[] keptHidden;
    private float[] keptLogits;
    private long startNanos;
    private long prefillEndNanos;
    private GenerationResult result;

    /**
     * @param cache           the cache to fill; its first {@code reusedPositions} positions must be this
     *                        prompt's (anything after them is dropped)
     * @param reusedPositions positions of the prompt already in the cache, less than the prompt's length
     * @param keepPromptTensors also keep the prompt's final hidden states and last logits (--dump-tensors)
     */
    public GenerationSession(InstellaVL model, PreparedPrompt prompt, GenerationOptions options, TokenListener listener,
                             KVCache cache, int reusedPositions, boolean keepPromptTensors) {
        int length = prompt.sequenceLength();
        if (length == 0) throw new InstellaException("the prompt is empty; give at least one token of text or an image");
        if (reusedPositions < 0 || reusedPositions >= Math.max(1, length) || reusedPositions > cache.length()) {
            throw new IllegalArgumentException("reused positions " + reusedPositions + " must be below the prompt length "
                    + length + " and within the cache's " + cache.length());
        }
        if (keepPromptTensors && reusedPositions > 0) {
            throw new IllegalArgumentException("prompt tensors can only be kept when the whole prompt is computed");
        }
        if ((long) length + options.maxNewTokens() > cache.maxLength() + 1L) {
            throw new IllegalArgumentException("the prompt (" + length + ") plus max_new_tokens (" + options.maxNewTokens()
                    + ") does not fit the KV cache of " + cache.maxLength() + " positions");
        }
        this.model = model;
        this.lm = model.languageModel();
        this.tok = model.tokenizer();
        this.prompt = prompt;
        this.options = options;
        this.listener = listener == null ? TokenListener.NONE : listener;
        this.cache = cache;
        this.reused = reusedPositions;
        cache.truncate(reusedPositions);
        this.prefilled = reusedPositions;
        this.allowed = Math.min(tok.vocabSize(), lm.config().vocabSize());
        this.eos = options.ignoreEos() ? List.of() : model.generationDefaults().eosTokenIds();
        this.sampler = new Sampler(options, allowed);
        this.keepPromptTensors = keepPromptTensors;
        int[] textIds = prompt.textIds();
        this.context = Arrays.copyOf(textIds, textIds.length + options.maxNewTokens());
        this.contextLen = textIds.length;
        this.generated = new int[options.maxNewTokens()];
        this.logprobs = options.logprobs() ? new ArrayList<>() : null;
        this.filter = new StopStringFilter(options.stopStrings());
    }

    /** A session on a fresh cache sized for the prompt and budget, within {@code contextLength}. */
    public static GenerationSession fresh(InstellaVL model, PreparedPrompt prompt, GenerationOptions options,
                                          TokenListener listener, int contextLength, boolean keepPromptTensors) {
        int length = prompt.sequenceLength();
        KVCache cache = model.languageModel().newCache(Math.min(contextLength, length + Math.max(1, options.maxNewTokens())));
        return new GenerationSession(model, prompt, options, listener, cache, 0, keepPromptTensors);
    }

    public State state() { return state; }

    public boolean finished() { return state == State.FINISHED; }

    public PreparedPrompt prompt() { return prompt; }

    public GenerationOptions options() { return options; }

    public KVCache cache() { return cache; }

    /** Prompt positions that came from a reused cache instead of being computed. */
    public int reusedPositions() { return reused; }

    /** Prompt positions still to run through the model. */
    public int remainingPrompt() { return prompt.sequenceLength() - prefilled; }

    /** Tokens generated so far. */
    public int generatedCount() { return n; }

    /** The token whose forward pass comes next (valid in state DECODE). */
    public int pendingToken() {
        if (state != State.DECODE) throw new IllegalStateException("no pending token in state " + state);
        return pending;
    }

    /** The result, once finished. */
    public GenerationResult result() {
        if (result == null) throw new IllegalStateException("the session has not finished");
        return result;
    }

    /**
     * Runs up to {@code maxRows} more prompt positions through the model; after the last one, samples the
     * first token. Returns the number of positions run.
     */
    public int prefill(int maxRows) {
        if (state != State.PREFILL) throw new IllegalStateException("prefill in state " + state);
        if (maxRows < 1) throw new IllegalArgumentException("maxRows must be >= 1");
        if (startNanos == 0) startNanos = System.nanoTime();
        int h = lm.config().hiddenSize();
        int length = prompt.sequenceLength();
        if (embeds == null) embeds = model.embed(prompt);
        int rows = Math.min(maxRows, length - prefilled);
        float[] chunk = rows == length ? embeds : Arrays.copyOfRange(embeds, prefilled * h, (prefilled + rows) * h);
        float[] hidden = lm.forward(chunk, rows, cache);
        if (keepPromptTensors) {
            if (keptHidden == null) keptHidden = new float[length * h];
            System.arraycopy(hidden, 0, keptHidden, prefilled * h, rows * h);
        }
        prefilled += rows;
        if (prefilled == length) {
            float[] logits = lm.logits(hidden, rows - 1);
            prefillEndNanos = System.nanoTime();
            if (keepPromptTensors) keptLogits = logits.clone();
            embeds = null;
            state = State.DECODE;
            if (options.maxNewTokens() == 0) finish(FinishReason.LENGTH);
            else step(logits);
        }
        return rows;
    }

    /** Runs the pending token alone through the model and samples the next one. */
    public void decodeOne() {
        int h = lm.config().hiddenSize();
        float[] one = new float[h];
        lm.embed(new int[]{pendingToken()}, 0, 1, one, 0);
        float[] hidden = lm.forward(one, 1, cache);
        acceptLogits(lm.logits(hidden, 0));
    }

    /** Takes the logits that the forward pass of {@link #pendingToken()} produced and samples the next token. */
    public void acceptLogits(float[] logits) {
        if (state != State.DECODE) throw new IllegalStateException("logits given in state " + state);
        pending = -1;
        step(logits);
    }

    /** Ends the session now (e.g. the client went away or its time ran out), in any state. */
    public void cancel() {
        if (state == State.FINISHED) return;
        if (prefillEndNanos == 0) prefillEndNanos = System.nanoTime();
        if (startNanos == 0) startNanos = prefillEndNanos;
        embeds = null;
        finish(FinishReason.CANCELLED);
    }

    /** One step of {@link Generator}'s loop: sample, check EOS, stream, check stop strings and budget. */
    private void step(float[] logits) {
        if (options.cancelled().getAsBoolean()) {
            finish(FinishReason.CANCELLED);
            return;
        }
        int next = sampler.next(logits, context, contextLen, generated, n);
        if (eos.contains(next)) {
            finish(FinishReason.STOP);
            return;
        }
        generated[n++] = next;
        context[contextLen++] = next;
        TokenLogprob lp = null;
        if (logprobs != null) {
            lp = Logprobs.of(logits, allowed, next, options.topLogprobs(), tok);
            logprobs.add(lp);
        }
        StopStringFilter.Step s = filter.accept(tok.decode(Arrays.copyOf(generated, n), true));
        listener.onToken(next, s.delta(), lp);
        if (s.stopped()) {
            finish(FinishReason.STOP);
            return;
        }
        if (n == options.maxNewTokens()) {
            finish(FinishReason.LENGTH);
            return;
        }
        pending = next;
    }

    private void finish(FinishReason reason) {
        pending = -1;
        String text = filter.finish(tok.decode(Arrays.copyOf(generated, n), true));
        String tail = filter.pendingTail();
        if (!tail.isEmpty()) listener.onToken(-1, tail, null);
        long end = System.nanoTime();
        result = new GenerationResult(prompt.sequenceLength(), Arrays.copyOf(generated, n), text, reason,
                logprobs == null ? List.of() : List.copyOf(logprobs), prompt.visionMillis(),
                (prefillEndNanos - startNanos) / 1e6, (end - prefillEndNanos) / 1e6, keptHidden, keptLogits);
        state = State.FINISHED;
    }

    /**
     * Identity of every position now in the cache, for prefix reuse: the prompt's {@code promptKeys} followed
     * by the generated tokens that have been run through the model.
     */
    public long[] cachedKeys(long[] promptKeys) {
        int inCache = cache.length();
        long[] keys = Arrays.copyOf(promptKeys, inCache);
        for (int i = promptKeys.length; i < inCache; i++) keys[i] = generated[i - promptKeys.length];
        return keys;
    }
}
