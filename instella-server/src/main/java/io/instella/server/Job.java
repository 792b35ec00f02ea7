package io.instella.server;

import io.instella.model.PreparedPrompt;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.GenerationSession;
import io.instella.model.generate.TokenLogprob;

import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One API request inside the {@link Engine}: a prompt and the options of each of its {@code n} choices.
 * The engine reports progress as {@link Event}s on a queue that the request's HTTP thread drains, so a
 * slow client never holds up the batch.
 */
public final class Job {
    /** What the engine tells the request's thread. */
    public sealed interface Event {}

    /** A generated token of a choice and the text it completed (may be empty); tokenId -1 for a final held-back tail. */
    public record Token(int choice, int tokenId, String delta, TokenLogprob logprob) implements Event {}

    /** A choice ended. */
    public record ChoiceDone(int choice, GenerationResult result) implements Event {}

    /** Every choice ended. */
    public record Done() implements Event {}

    /** The request failed (timeout, shutdown, internal error); no further events follow. */
    public record Failed(ApiError error) implements Event {}

    final PreparedPrompt prompt;
    final long[] promptKeys;
    final List<GenerationOptions> choices;
    final long arrivalNanos;
    final long deadlineNanos;
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;
    private volatile int cachedPositions;
    final AtomicBoolean firstToken = new AtomicBoolean();
    // Owned by the engine thread:
    List<GenerationSession> sessions;
    boolean[] reported;

    /**
     * @param promptKeys  identity of each prompt position (for prefix reuse), see {@code PrefixCache.keys}
     * @param choices     options of each choice ({@code n} of them)
     * @param arrivalNanos when the request arrived ({@link System#nanoTime()}), for time to first token
     */
    public Job(PreparedPrompt prompt, long[] promptKeys, List<GenerationOptions> choices, long arrivalNanos, long deadlineNanos) {
        if (choices.isEmpty()) throw new IllegalArgumentException("a job needs at least one choice");
        this.prompt = prompt;
        this.promptKeys = promptKeys;
        this.choices = List.copyOf(choices);
        this.arrivalNanos = arrivalNanos;
        this.deadlineNanos = deadlineNanos;
    }

    public BlockingQueue<Event> events() { return events; }

    public int choiceCount() { return choices.size(); }

    public PreparedPrompt prompt() { return prompt; }

    /** The client went away: the engine drops the job at its next step and frees its caches. */
    public void cancel() { cancelled = true; }

    public boolean cancelled() { return cancelled; }

    /** Prompt positions the first choice took from a reused KV cache. */
    public int cachedPositions() { return cachedPositions; }

    void cachedPositions(int n) { cachedPositions = n; }
}
