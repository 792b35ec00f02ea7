package io.instella.server;

import io.instella.model.InstellaVL;
import io.instella.model.generate.DecodeBatch;
import io.instella.model.generate.FinishReason;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationSession;
import io.instella.model.generate.PrefixCache;
import io.instella.model.generate.TokenListener;
import io.instella.model.generate.TokenLogprob;
import io.instella.model.lm.OlmoModel;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The scheduler: one thread that owns the model and runs continuous batching. Each turn of its loop
 * admits waiting requests while fewer than {@code parallel} sequences run, computes one chunk of one
 * prompt (so a long prompt never stalls the others for long), then advances every generating sequence by
 * one token in a single batched forward pass. Requests join and leave between steps. Cancelled or
 * timed-out requests are dropped at the next turn and their KV caches freed; finished ones leave their
 * cache in the {@link PrefixCache} for a conversation that continues.
 */
public final class Engine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final InstellaVL model;
    private final OlmoModel lm;
    private final ServerOptions options;
    private final Metrics metrics;
    private final PrefixCache prefixCache;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private final Condition idle = lock.newCondition();
    private final Deque<Job> waiting = new ArrayDeque<>();
    private final List<Job> running = new ArrayList<>();
    private final AtomicInteger inSystem = new AtomicInteger();
    private final AtomicInteger runningSessions = new AtomicInteger();
    private volatile boolean accepting = true;
    private volatile ApiError abortWith;
    private volatile boolean stop;
    private volatile long activeKvBytes;
    private final Thread thread;

    public Engine(InstellaVL model, ServerOptions options, Metrics metrics) {
        this.model = model;
        this.lm = model.languageModel();
        this.options = options;
        this.metrics = metrics;
        this.prefixCache = new PrefixCache(options.prefixCacheBytes(), 0.5);
        metrics.gauge("instella_requests_running", "Requests being prefilled or decoded.", () -> runningJobs());
        metrics.gauge("instella_sequences_running", "Sequences (choices) in the running batch.", runningSessions::get);
        metrics.gauge("instella_requests_waiting", "Requests queued for a free slot (queue length).", this::waitingJobs);
        metrics.gauge("instella_queue_capacity", "Requests that may be queued or running before 429.",
                () -> options.parallel() + options.queueSize());
        metrics.gauge("instella_kv_cache_active_bytes", "KV cache memory of running sequences.", () -> activeKvBytes);
        metrics.gauge("instella_kv_cache_idle_bytes", "KV cache memory kept for continued conversations.", prefixCache::bytes);
        metrics.gauge("instella_prefix_cache_hits_total", "Requests that reused a kept KV cache.", prefixCache::hits);
        this.thread = Thread.ofPlatform().name("instella-engine").daemon(true).unstarted(this::loop);
        thread.start();
    }

    /**
     * Queues a request.
     *
     * @throws ApiError 429 when the queue is full, 503 when the server is shutting down
     */
    public void submit(Job job) {
        lock.lock();
        try {
            if (!accepting) {
                throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down; retry on another instance");
            }
            if (inSystem.get() >= options.parallel() + options.queueSize()) {
                throw new ApiError(429, "rate_limit_error", null, "queue_full", "the server is busy: " + options.parallel()
                        + " requests are running and " + options.queueSize() + " are queued; retry shortly");
            }
            inSystem.incrementAndGet();
            waiting.addLast(job);
            wake.signalAll();
        } finally {
            lock.unlock();
        }
    }

    public int waitingJobs() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    public int runningJobs() { return Math.max(0, inSystem.get() - waitingJobs()); }

    public boolean accepting() { return accepting; }

    public PrefixCache prefixCache() { return prefixCache; }

    /**
     * Stops taking requests, lets the running and queued ones finish for up to {@code grace}, then ends
     * the rest with a 503 and stops the scheduler thread.
     */
    public void shutdown(Duration grace) {
        accepting = false;
        long deadline = System.nanoTime() + grace.toNanos();
        lock.lock();
        try {
            while (inSystem.get() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                idle.awaitNanos(Math.min(left, TimeUnit.MILLISECONDS.toNanos(100)));
            }
            if (inSystem.get() > 0) {
                abortWith = new ApiError(503, "service_unavailable", null, "shutting_down",
                        "the server shut down before this request finished");
            }
            stop = true;
            wake.signalAll();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        prefixCache.clear();
    }

    @Override
    public void close() {
        if (thread.isAlive()) shutdown(Duration.ZERO);
    }

    private void loop() {
        while (true) {
            List<Job> admitted = new ArrayList<>();
            lock.lock();
            try {
                if (abortWith != null) abortAll(abortWith);
                if (stop && waiting.isEmpty() && running.isEmpty()) return;
                if (waiting.isEmpty() && running.isEmpty()) {
                    idle.signalAll();
                    wake.await(1, TimeUnit.SECONDS);
                    continue;
                }
                dropAbandonedWaiting();
                int slots = options.parallel() - runningSessions.get();
                while (!waiting.isEmpty()) {
                    Job next = waiting.peekFirst();
                    if (next.choiceCount() > slots && !(running.isEmpty() && admitted.isEmpty())) break;
                    waiting.pollFirst();
                    admitted.add(next);
                    slots -= next.choiceCount();
                }
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.unlock();
            }
            try {
                for (Job job : admitted) admit(job);
                expire();
                prefillOneChunk();
                decodeStep();
                collectFinished();
            } catch (RuntimeException | Error e) {
                // A bug or an out-of-memory: fail what is running, keep serving.
                LOG.log(Level.SEVERE, "scheduler step failed", e);
                for (Job job : List.copyOf(running)) fail(job, internal(e));
            }
        }
    }

    private static ApiError internal(Throwable e) {
        String what = e instanceof OutOfMemoryError ? "out of memory (lower --parallel or --ctx)" : e.toString();
        return new ApiError(500, "server_error", null, "internal_error", "internal error while generating: " + what);
    }

    private void dropAbandonedWaiting() {
        long now = System.nanoTime();
        for (Iterator<Job> it = waiting.iterator(); it.hasNext(); ) {
            Job job = it.next();
            if (job.cancelled()) {
                it.remove();
                leave(job, "cancelled");
            } else if (now - job.deadlineNanos > 0) {
                it.remove();
                job.events.add(new Job.Failed(timeout()));
                leave(job, "timeout");
            }
        }
    }

    private ApiError timeout() {
        return new ApiError(504, "timeout_error", null, "request_timeout", "the request did not finish within the server's "
                + options.requestTimeout().toSeconds() + " s limit; ask for fewer tokens or retry when the server is less busy");
    }

    private void admit(Job job) {
        List<GenerationSession> sessions = new ArrayList<>();
        int length = job.prompt.sequenceLength();
        try {
            for (int c = 0; c < job.choiceCount(); c++) {
                final int choice = c;
                GenerationOptions opts = job.choices.get(c).toBuilder().cancelled(job::cancelled).build();
                TokenListener listener = new TokenListener() {
                    @Override
                    public void onToken(int tokenId, String textDelta) {
                        onToken(tokenId, textDelta, null);
                    }

                    @Override
                    public void onToken(int tokenId, String textDelta, TokenLogprob logprob) {
                        if (tokenId >= 0) {
                            metrics.generated(1);
                            if (job.firstToken.compareAndSet(false, true)) {
                                metrics.timeToFirstToken((System.nanoTime() - job.arrivalNanos) / 1e9);
                            }
                        }
                        job.events.add(new Job.Token(choice, tokenId, textDelta, logprob));
                    }
                };
                PrefixCache.Lease lease = prefixCache.acquire(job.promptKeys, lm, options.contextLength());
                sessions.add(new GenerationSession(model, job.prompt, opts, listener, lease.cache(), lease.reusedPositions(), false));
                if (c == 0) {
                    // counted once per request, as usage.prompt_tokens reports it
                    job.cachedPositions(lease.reusedPositions());
                    metrics.promptAdmitted(length, lease.reusedPositions());
                }
            }
        } catch (RuntimeException e) {
            job.sessions = sessions;
            job.reported = new boolean[job.choiceCount()];
            running.add(job);
            runningSessions.addAndGet(sessions.size());
            fail(job, internal(e));
            return;
        }
        job.sessions = sessions;
        job.reported = new boolean[sessions.size()];
        running.add(job);
        runningSessions.addAndGet(sessions.size());
    }

    /** Ends the sessions of cancelled and timed-out requests. */
    private void expire() {
        long now = System.nanoTime();
        for (Job job : List.copyOf(running)) {
            if (job.cancelled()) {
                for (GenerationSession s : job.sessions) s.cancel();
            } else if (now - job.deadlineNanos > 0) {
                fail(job, timeout());
            }
        }
    }

    private void prefillOneChunk() {
        for (Job job : running) {
            for (GenerationSession s : job.sessions) {
                if (s.state() == GenerationSession.State.PREFILL) {
                    try {
                        int rows = s.prefill(options.prefillChunk());
                        metrics.promptComputed(rows);
                    } catch (RuntimeException e) {
                        fail(job, internal(e));
                    }
                    return;
                }
            }
        }
    }

    private void decodeStep() {
        List<GenerationSession> batch = new ArrayList<>();
        for (Job job : running) {
            for (GenerationSession s : job.sessions) if (s.state() == GenerationSession.State.DECODE) batch.add(s);
        }
        if (batch.isEmpty()) return;
        DecodeBatch.step(lm, batch);
        metrics.decodeStep(batch.size());
    }

    private void collectFinished() {
        long kv = 0;
        for (Job job : List.copyOf(running)) {
            boolean all = true;
            for (int c = 0; c < job.sessions.size(); c++) {
                GenerationSession s = job.sessions.get(c);
                if (!s.finished()) {
                    all = false;
                    kv += s.cache().bytes();
                    continue;
                }
                if (job.reported[c]) continue;
                job.reported[c] = true;
                var result = s.result();
                metrics.finished(result.finishReason() == FinishReason.CANCELLED ? "cancelled" : result.finishReason().apiName());
                if (result.finishReason() != FinishReason.CANCELLED) {
                    prefixCache.release(s.cachedKeys(job.promptKeys), s.cache());
                }
                job.events.add(new Job.ChoiceDone(c, result));
            }
            if (all) {
                job.events.add(new Job.Done());
                running.remove(job);
                runningSessions.addAndGet(-job.sessions.size());
                leave(job, null);
            }
        }
        activeKvBytes = kv;
    }

    /** Ends a running job with an error; its caches are dropped (not kept for reuse). */
    private void fail(Job job, ApiError error) {
        if (!running.remove(job)) return;
        for (GenerationSession s : job.sessions) s.cancel();
        for (int c = 0; c < job.sessions.size(); c++) {
            if (!job.reported[c]) metrics.finished(error.status() == 504 ? "timeout" : error.status() == 503 ? "shutdown" : "error");
        }
        runningSessions.addAndGet(-job.sessions.size());
        job.events.add(new Job.Failed(error));
        leave(job, null);
    }

    private void abortAll(ApiError error) {
        for (Job job : List.copyOf(running)) fail(job, error);
        for (Job job : waiting) {
            job.events.add(new Job.Failed(error));
            leave(job, "shutdown");
        }
        waiting.clear();
    }

    private void leave(Job job, String reason) {
        if (reason != null) for (int c = 0; c < job.choiceCount(); c++) metrics.finished(reason);
        inSystem.decrementAndGet();
        lock.lock();
        try {
            idle.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
