package io.instella.core.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * The engine's one thread pool, sized to the available cores (override with -Dinstella.threads=N
 * or {@link #setThreads}). Kernels split work into ranges; the calling thread takes part.
 */
public final class Parallel {
    private static volatile ForkJoinPool pool = newPool(defaultThreads());

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

    private static ForkJoinPool newPool(int threads) {
        return new ForkJoinPool(threads, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("instella-worker-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    public static int threads() { return pool.getParallelism(); }

    public static synchronized void setThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (threads == pool.getParallelism()) return;
        ForkJoinPool old = pool;
        pool = newPool(threads);
        old.shutdown();
    }

    /**
     * Runs body over [0, n) split into chunks of at least {@code grain} items, in parallel.
     * Small ranges run inline on the caller.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int threads = pool.getParallelism();
        grain = Math.max(1, grain);
        if (threads == 1 || n <= grain) {
            body.run(0, n);
            return;
        }
        // Aim for a few chunks per thread for load balance, never below the grain.
        int chunks = Math.min((n + grain - 1) / grain, threads * 4);
        int chunk = (n + chunks - 1) / chunks;
        Split root = new Split(body, 0, n, chunk);
        if (Thread.currentThread() instanceof java.util.concurrent.ForkJoinWorkerThread w && w.getPool() == pool) {
            root.compute(); // nested call from a worker: split within the same pool
        } else {
            pool.invoke(root);
        }
    }

    private static final class Split extends RecursiveAction {
        private final RangeBody body;
        private final int start, end, chunk;

        Split(RangeBody body, int start, int end, int chunk) {
            this.body = body;
            this.start = start;
            this.end = end;
            this.chunk = chunk;
        }

        @Override
        protected void compute() {
            if (end - start <= chunk) {
                body.run(start, end);
                return;
            }
            int pieces = (end - start + chunk - 1) / chunk;
            int mid = start + (pieces / 2) * chunk;
            invokeAll(new Split(body, start, mid, chunk), new Split(body, mid, end, chunk));
        }
    }
}
