package io.instella.core.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The engine's one thread pool: {@code threads − 1} dedicated daemon workers plus the calling thread,
 * sized to the cores (override with -Dinstella.threads=N or {@link #setThreads}). A call splits [0, n)
 * into chunks that the caller and the workers claim from a shared counter, so exactly {@code threads}
 * threads compute (no oversubscription, no task objects per chunk). Idle workers spin briefly for the
 * next call (decode issues ~100 calls per token) and then park.
 * <p>
 * A call made while another is running (from inside a body, or from a second application thread) runs
 * inline on its caller: correct, only not parallel.
 */
public final class Parallel {
    private static volatile Pool pool = new Pool(defaultThreads());

    private Parallel() {}

    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    static int defaultThreads() {
        String p = System.getProperty("instella.threads");
        if (p != null && !p.isBlank()) return Math.max(1, Integer.parseInt(p.trim()));
        return Runtime.getRuntime().availableProcessors();
    }

    public static int threads() { return pool.threads; }

    public static synchronized void setThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (threads == pool.threads) return;
        Pool old = pool;
        pool = new Pool(threads);
        old.shutdown();
    }

    /**
     * Runs body over [0, n) split into chunks of at least {@code grain} items, in parallel.
     * Small ranges run inline on the caller.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        Pool p = pool;
        grain = Math.max(1, grain);
        if (p.threads == 1 || n <= grain || !p.busy.compareAndSet(false, true)) {
            body.run(0, n);
            return;
        }
        try {
            // Several chunks per thread balance uneven chunks, a worker that starts late and a thread descheduled by
            // the OS: the caller waits only for the last chunk (with 4 per thread, decode spent ~8% there).
            int chunks = Math.min((n + grain - 1) / grain, p.threads * 16);
            p.run(n, chunks, body);
        } finally {
            p.busy.set(false);
        }
    }

    private static final class Pool {
        /** How long an idle worker polls for the next call before parking (ns). */
        private static final long SPIN_NANOS = 200_000;

        final int threads;
        final AtomicBoolean busy = new AtomicBoolean();
        private final Thread[] workers;
        private volatile boolean stopped;
        // The current call: published by a write of generation, after the fields below.
        private volatile int generation;
        private RangeBody body;
        private int n, chunks;
        private final AtomicInteger nextChunk = new AtomicInteger();
        private final AtomicInteger running = new AtomicInteger();
        private volatile Throwable failure;

        Pool(int threads) {
            this.threads = threads;
            this.workers = new Thread[threads - 1];
            for (int i = 0; i < workers.length; i++) {
                Thread t = new Thread(this::workerLoop, "instella-worker-" + i);
                t.setDaemon(true);
                workers[i] = t;
                t.start();
            }
        }

        void run(int n, int chunks, RangeBody body) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.failure = null;
            nextChunk.set(0);
            running.set(workers.length);
            generation++; // publishes the call
            for (Thread w : workers) LockSupport.unpark(w);
            work(body, n, chunks);
            while (running.get() != 0) Thread.onSpinWait();
            this.body = null;
            Throwable f = failure;
            if (f != null) {
                if (f instanceof RuntimeException re) throw re;
                if (f instanceof Error e) throw e;
                throw new IllegalStateException(f);
            }
        }

        private void work(RangeBody body, int n, int chunks) {
            int c;
            while ((c = nextChunk.getAndIncrement()) < chunks) {
                long start = (long) n * c / chunks, end = (long) n * (c + 1) / chunks;
                try {
                    body.run((int) start, (int) end);
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                }
            }
        }

        private void workerLoop() {
            // Generation 0 is the state at construction: a call published before this thread got here still counts.
            int seen = 0;
            while (!stopped) {
                int g = generation;
                if (g == seen) {
                    long deadline = System.nanoTime() + SPIN_NANOS;
                    while ((g = generation) == seen && !stopped && System.nanoTime() < deadline) Thread.onSpinWait();
                    if (g == seen) {
                        LockSupport.park(this);
                        continue;
                    }
                }
                seen = g;
                work(body, n, chunks);
                running.decrementAndGet();
            }
        }

        void shutdown() {
            stopped = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }
    }
}
