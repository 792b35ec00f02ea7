package io.instella.server;

import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.RgbImage;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * Decodes images on a bounded pool, so that costly or hostile images cannot take every core or the whole heap.
 * A slot is held from the start of a decode until the request is done with the decoded pixels (encoded or
 * refused), so at most {@code threads} decoded images exist at once. At most {@code queue} images wait for a
 * slot; beyond that a request is refused at once (503). A decode still running at the request's deadline is
 * interrupted (the decoders stop at their next check) and the request gets a 400; its slot stays taken until
 * the decode thread has really stopped, so a decoder that ignores the interrupt costs capacity, never more
 * threads or memory.
 */
final class ImageDecodePool implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ImageDecodePool.class.getName());

    /** The decoding itself, injectable so that tests can simulate a slow or failing decoder. */
    @FunctionalInterface
    interface Decoder {
        RgbImage decode(byte[] bytes, String nameForErrors);
    }

    /** Decoded pixels; {@link #close()} gives the slot back once the caller is done with them. */
    static final class Decoded implements AutoCloseable {
        private final RgbImage image;
        private final Runnable release;

        private Decoded(RgbImage image, Runnable release) {
            this.image = image;
            this.release = release;
        }

        RgbImage image() { return image; }

        @Override
        public void close() { release.run(); }
    }

    private final Decoder decoder;
    private final Metrics metrics;
    private final int queueLimit;
    private final Semaphore slots;
    private final ExecutorService threads;
    private final AtomicInteger waiting = new AtomicInteger();
    private final AtomicInteger decoding = new AtomicInteger();
    private final AtomicInteger abandoned = new AtomicInteger();

    ImageDecodePool(Decoder decoder, int threadCount, int queueLimit, Metrics metrics) {
        this.decoder = decoder;
        this.metrics = metrics;
        this.queueLimit = queueLimit;
        this.slots = new Semaphore(threadCount, true);
        AtomicInteger n = new AtomicInteger();
        // Never more tasks than slots, so a fixed pool of that size never queues.
        this.threads = Executors.newFixedThreadPool(threadCount, r -> Thread.ofPlatform()
                .name("instella-image-decode-" + n.incrementAndGet()).daemon(true).unstarted(r));
        metrics.gauge("instella_images_decoding", "Images being decoded now (including decodes whose request gave up).",
                decoding::get);
        metrics.gauge("instella_image_decode_waiting", "Images waiting for a decode thread.", waiting::get);
        metrics.gauge("instella_image_decodes_abandoned", "Decodes still running after their request timed out "
                + "(interrupted; they hold a decode thread until they stop).", abandoned::get);
        metrics.gauge("instella_image_decode_threads", "Images decoded at once at most.", () -> threadCount);
    }

    /**
     * Decodes {@code bytes} within {@code limit}, the wait for a free decode thread included.
     *
     * @throws ApiError 400 when the image is not usable or its decode runs past the deadline, 503 when every
     *                  decode thread is busy and the queue is full (or no thread frees up before the deadline)
     */
    Decoded decode(byte[] bytes, String param, Duration limit) {
        long deadlineNanos = System.nanoTime() + limit.toNanos();
        if (!acquireSlot(deadlineNanos)) {
            metrics.imageDecode("busy");
            throw busy();
        }
        // Two holders: the decode task and the caller. The slot is free again when both are done.
        AtomicInteger holders = new AtomicInteger(2);
        Runnable release = () -> {
            if (holders.decrementAndGet() == 0) slots.release();
        };
        AtomicInteger state = new AtomicInteger(); // 0 running, 1 done, 2 abandoned by its request
        // Whoever claims first owns the task's share of the slot: the task when it starts, or the caller when it
        // gives up before the task started (a cancelled task that never runs has no finally to release it).
        AtomicBoolean claimed = new AtomicBoolean();
        Future<RgbImage> task;
        try {
            task = threads.submit(() -> {
                if (!claimed.compareAndSet(false, true)) return null;
                decoding.incrementAndGet();
                try {
                    return decoder.decode(bytes, param);
                } finally {
                    decoding.decrementAndGet();
                    if (!state.compareAndSet(0, 1)) abandoned.decrementAndGet();
                    release.run();
                }
            });
        } catch (RuntimeException e) { // rejected: the pool is shut down
            slots.release();
            throw busy();
        }
        long start = System.nanoTime();
        try {
            RgbImage image = task.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (image == null) throw new ExecutionException(new ImageDecodeException(param, "the decoder produced no image"));
            metrics.imageDecode("ok");
            metrics.imageDecodeSeconds((System.nanoTime() - start) / 1e9);
            return new Decoded(image, release);
        } catch (TimeoutException | CancellationException e) {
            if (claimed.compareAndSet(false, true)) {
                release.run(); // the task never started: its share too
            } else if (state.compareAndSet(0, 2)) {
                abandoned.incrementAndGet();
            }
            task.cancel(true); // interrupts the decode thread; the decoders stop at their next check
            release.run();
            metrics.imageDecode("timeout");
            throw ApiError.invalid(param, "image_decode_timeout", "decoding this image took longer than the server's "
                    + limit.toMillis() + " ms limit (--image-decode-timeout); send a smaller or simpler image");
        } catch (ExecutionException e) {
            release.run();
            metrics.imageDecode("invalid");
            Throwable cause = e.getCause();
            if (cause instanceof ImageDecodeException ide) {
                throw ApiError.invalid(param, "invalid_image", "not a usable image: " + ide.getMessage());
            }
            if (cause instanceof ApiError api) throw api;
            // A decoder bug or an image that needs more memory than the heap has: the image is refused,
            // the server goes on. One line in the log, no stack.
            LOG.warning(() -> "image decoder failed on " + param + ": " + cause);
            String what = cause instanceof OutOfMemoryError ? "it needs more memory to decode than this server allows"
                    : "the decoder could not read it";
            throw ApiError.invalid(param, "invalid_image", "not a usable image: " + what);
        } catch (InterruptedException e) {
            if (claimed.compareAndSet(false, true)) {
                release.run();
            } else if (state.compareAndSet(0, 2)) {
                abandoned.incrementAndGet();
            }
            task.cancel(true);
            release.run();
            Thread.currentThread().interrupt();
            throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down");
        }
    }

    private boolean acquireSlot(long deadlineNanos) {
        if (slots.tryAcquire()) return true;
        if (waiting.incrementAndGet() > queueLimit) {
            waiting.decrementAndGet();
            return false;
        }
        try {
            return slots.tryAcquire(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            waiting.decrementAndGet();
        }
    }

    private static ApiError busy() {
        return new ApiError(503, "service_unavailable", null, "image_decoders_busy",
                "every image decoder of this server is busy; retry shortly");
    }

    @Override
    public void close() {
        threads.shutdownNow();
    }
}
