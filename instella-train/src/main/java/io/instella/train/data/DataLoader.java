package io.instella.train.data;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Micro-batches in a deterministic order. Epoch e's records are the mixture's {@link DataMixture#epochRecords}
 * shuffled with {@code random.Random(seed + (e << 64)).shuffle} (or in file order without shuffling); they are
 * taken in that order, a skipped record is replaced by the next one, and every {@code batchSize} examples make a
 * batch. At the end of an epoch a short batch is kept, or dropped with {@code dropLast}
 * ({@code --dataloader-drop-last}); batches never span two epochs.
 *
 * <p>Examples are built (record read, images decoded and preprocessed) on {@code threads} background threads, up
 * to {@code prefetch} records (at least two batches) ahead of the consumer; results are taken strictly in order,
 * so the batches, the skip counts and the strict-mode failure do not depend on thread timing. One iterator at a
 * time; not thread-safe.
 */
public final class DataLoader implements AutoCloseable {
    private final DataMixture mixture;
    private final ExampleBuilder builder;
    private final Collator collator;
    private final DataReport report;
    private final int batchSize;
    private final boolean dropLast;
    private final boolean shuffle;
    private final boolean strict;
    private final long seed;
    private final int prefetch;
    private final ExecutorService pool;
    private BatchIterator current;
    private volatile boolean closed;

    DataLoader(DataMixture mixture, ExampleBuilder builder, Collator collator, DataReport report, int batchSize,
               boolean dropLast, boolean shuffle, boolean strict, long seed, int threads, int prefetch) {
        if (batchSize < 1) throw new DataException("--per-device-train-batch-size must be at least 1, got " + batchSize);
        if (threads < 1) throw new DataException("data loader threads must be at least 1, got " + threads);
        this.mixture = mixture;
        this.builder = builder;
        this.collator = collator;
        this.report = report;
        this.batchSize = batchSize;
        this.dropLast = dropLast;
        this.shuffle = shuffle;
        this.strict = strict;
        this.seed = seed;
        this.prefetch = Math.max(prefetch, 2 * batchSize); // at least the next batch builds while this one trains
        AtomicInteger n = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(threads, r -> Thread.ofPlatform().daemon()
                .name("instella-data-" + n.incrementAndGet()).unstarted(r));
    }

    /** Batches per epoch if no record is skipped: records / batch size, rounded down with dropLast, else up. */
    public long batchesPerEpoch() {
        long n = mixture.recordsPerEpoch();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    public int batchSize() {
        return batchSize;
    }

    /** The record order of an epoch (references into the mixture), as the loader walks it. */
    long[] epochOrder(int epoch) {
        long[] order = mixture.epochRecords(epoch);
        if (shuffle) PythonRandom.forKey(seed, epoch, 0).shuffle(order);
        return order;
    }

    /**
     * Batches from {@code start} on, through every following epoch without end (the trainer stops after its
     * last step); {@link BatchIterator#position()} is where to resume after the batch last returned. Starting a
     * new iterator stops the previous one.
     */
    public BatchIterator batches(LoaderPosition start) {
        return batches(start, Integer.MAX_VALUE);
    }

    /**
     * Batches from {@code start} to the end of epoch {@code endEpoch - 1} (e.g. {@code --num-train-epochs}, or
     * {@code batches(LoaderPosition.START, 1)} for one pass over evaluation data).
     */
    public BatchIterator batches(LoaderPosition start, int endEpoch) {
        if (closed) throw new IllegalStateException("the data loader is closed");
        if (current != null) current.stop();
        current = new BatchIterator(start, endEpoch);
        return current;
    }

    private record Built(TrainingExample example, DataReport.Skip skip) {}

    private Built build(long ref) {
        try {
            return new Built(builder.build(mixture.read(ref)), null);
        } catch (RecordSkipped s) {
            return new Built(null, s.skip());
        } catch (CancellationException e) {
            throw e;
        } catch (Throwable t) {
            if (Thread.currentThread().isInterrupted()) throw new CancellationException("data loading was stopped");
            String what = t instanceof OutOfMemoryError ? "ran out of memory while preparing it"
                    : "could not be prepared: " + (t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
            return new Built(null, new DataReport.Skip(mixture.locate(ref), null, DataReport.Reason.BAD_RECORD, what));
        }
    }

    /** The batches of a loader, from a start position. */
    public final class BatchIterator implements Iterator<Batch> {
        private int epoch;
        private long[] order;
        private long batchIndex;
        private int cursor;        // next record of `order` to consume
        private int submitted;     // next record of `order` to hand to a thread
        private final ArrayDeque<Future<Built>> window = new ArrayDeque<>();
        private Batch next;
        private LoaderPosition afterNext;  // the position after `next`
        private LoaderPosition returned;   // the position after the batch last returned
        private boolean stopped;
        private final int endEpoch;

        private BatchIterator(LoaderPosition start, int endEpoch) {
            this.endEpoch = endEpoch;
            epoch = start.epoch();
            order = epochOrder(epoch);
            if (start.nextRecord() > order.length) {
                throw new DataException("the saved data position " + start + " is past the end of epoch " + epoch
                        + " (" + order.length + " records): the data changed since the checkpoint was written");
            }
            batchIndex = start.batchIndex();
            cursor = (int) start.nextRecord();
            submitted = cursor;
            returned = start;
        }

        /**
         * Where to resume after the batch last returned by {@link #next()} (before the first: the start), whether
         * or not {@link #hasNext()} has already prepared the one after it. Its epoch is that batch's epoch.
         */
        public LoaderPosition position() {
            return returned;
        }

        @Override
        public boolean hasNext() {
            if (next == null) {
                next = produce();
                afterNext = new LoaderPosition(epoch, batchIndex, cursor);
            }
            return next != null;
        }

        @Override
        public Batch next() {
            if (!hasNext()) throw new NoSuchElementException();
            Batch b = next;
            next = null;
            returned = afterNext;
            return b;
        }

        private Batch produce() {
            if (stopped || closed || epoch >= endEpoch) return null;
            List<TrainingExample> examples = new ArrayList<>(batchSize);
            while (examples.size() < batchSize) {
                if (cursor >= order.length) {
                    if (!examples.isEmpty() && !dropLast) break;
                    if (batchIndex == 0) {
                        throw new DataException(order.length == 0 ? "no training records: the data holds none"
                                : "epoch " + epoch + " gave no batch: of its " + order.length + " records "
                                + examples.size() + " were usable, fewer than the batch size " + batchSize
                                + (dropLast ? " with --dataloader-drop-last" : "") + "; " + report.summary());
                    }
                    examples.clear();                       // dropLast: the short remainder is dropped
                    if (epoch + 1 >= endEpoch) return null;
                    startEpoch(epoch + 1);
                    continue;
                }
                fill();
                Built built = take();
                cursor++;
                if (built.skip() != null) {
                    if (strict) {
                        stop();
                        throw new DataException(built.skip().describe() + " (--strict-data stops at the first bad record)");
                    }
                    report.skipped(built.skip());
                } else {
                    examples.add(built.example());
                }
            }
            for (int i = 0; i < examples.size(); i++) report.used();
            batchIndex++;
            return collator.collate(examples);
        }

        private void startEpoch(int e) {
            cancelWindow();
            epoch = e;
            order = epochOrder(e);
            batchIndex = 0;
            cursor = 0;
            submitted = 0;
        }

        private void fill() {
            while (submitted < order.length && window.size() < prefetch) {
                long ref = order[submitted++];
                try {
                    window.add(pool.submit(() -> build(ref)));
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    throw new CancellationException("data loading was stopped"); // closed meanwhile
                }
            }
        }

        private Built take() {
            Future<Built> f = window.poll();
            try {
                return f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stop();
                throw new CancellationException("interrupted while waiting for training data");
            } catch (ExecutionException | CancellationException e) {
                // build() turns every failure into a skip; only a cancellation (close()) gets here.
                stop();
                throw new CancellationException("data loading was stopped");
            }
        }

        private void cancelWindow() {
            for (Future<Built> f : window) f.cancel(true);
            window.clear();
        }

        void stop() {
            stopped = true;
            cancelWindow();
        }
    }

    /**
     * Stops the background threads: queued builds are cancelled, a build in progress is interrupted. May be called
     * from another thread (e.g. on Ctrl-C) while the trainer waits for a batch: that wait then ends with a
     * {@link CancellationException}.
     */
    @Override
    public void close() {
        closed = true;
        // Cancel through the pool, not the iterator's window (which belongs to the trainer's thread): a queued
        // task that never runs would otherwise leave a waiting get() blocked for ever.
        for (Runnable queued : pool.shutdownNow()) {
            if (queued instanceof Future<?> f) f.cancel(true);
        }
        try {
            pool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
