package io.instella.model.image;

import java.time.Duration;

import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadProgressListener;

/**
 * The time one decode may take, and its cancellation: the decode stops when the deadline passes or when the
 * thread that started it is interrupted. Decoders notice through {@link #shouldStop()}, polled by the input stream
 * on every read ({@link CheckedImageInputStream}), by an ImageIO progress listener that calls
 * {@link ImageReader#abort()} (the readers poll that once per row) and by the pixel conversion loops.
 */
final class DecodeBudget {

    enum Stop { TIME_LIMIT, CANCELLED }

    private final Duration limit;
    private final long deadlineNanos;
    private final Thread owner;
    private volatile Stop stop;

    DecodeBudget(Duration limit) {
        this.limit = limit;
        this.deadlineNanos = System.nanoTime() + Math.min(limit.toNanos(), Long.MAX_VALUE / 4);
        this.owner = Thread.currentThread();
    }

    /** True once the deadline has passed or the owning thread was interrupted (the interrupt stays set). */
    boolean shouldStop() {
        if (stop != null) return true;
        if (owner.isInterrupted()) {
            stop = Stop.CANCELLED;
        } else if (System.nanoTime() - deadlineNanos > 0) {
            stop = Stop.TIME_LIMIT;
        }
        return stop != null;
    }

    /** Why the decode stopped, or null while it may go on. */
    Stop stopped() {
        return stop;
    }

    long remainingNanos() {
        return Math.max(0, deadlineNanos - System.nanoTime());
    }

    Duration limit() {
        return limit;
    }

    /**
     * Called between rows of our own pixel loops: leaves the loop when the decode has to stop. The decoder turns
     * the signal into {@link #stoppedError}.
     */
    void poll() {
        if (shouldStop()) throw new StopSignal();
    }

    /** Unwinds a stopped decode; carries no message or stack, the decoder reports {@link #stoppedError}. */
    static final class StopSignal extends RuntimeException {
        StopSignal() {
            super(null, null, false, false);
        }
    }

    ImageDecodeException stoppedError(String name, String formatLabel) {
        return stoppedError(name, formatLabel, null);
    }

    /** The error for a stopped decode; {@code cause} is what the decoder threw when it noticed, if anything. */
    ImageDecodeException stoppedError(String name, String formatLabel, Throwable cause) {
        String what = formatLabel == null ? "reading the image" : "decoding the " + formatLabel + " image";
        return stop == Stop.CANCELLED
                ? new ImageDecodeException(name, ImageDecodeException.Kind.CANCELLED, what + " was cancelled", cause)
                : new ImageDecodeException(name, ImageDecodeException.Kind.TIME_LIMIT, what + " took longer than "
                        + "the limit of " + describe(limit) + " (raise it with ImageDecoder.withTimeLimit if the "
                        + "image is trusted)", cause);
    }

    static String describe(Duration d) {
        if (d.toMillis() % 1000 == 0) return d.toSeconds() + " s";
        return d.toMillis() + " ms";
    }

    /** Aborts the reader (from its own thread, inside its progress callback) once the decode has to stop. */
    void watch(ImageReader reader) {
        reader.addIIOReadProgressListener(new IIOReadProgressListener() {
            @Override public void imageProgress(ImageReader source, float percentageDone) {
                if (shouldStop()) source.abort();
            }
            @Override public void imageStarted(ImageReader source, int imageIndex) {
                if (shouldStop()) source.abort();
            }
            @Override public void sequenceStarted(ImageReader source, int minIndex) {}
            @Override public void sequenceComplete(ImageReader source) {}
            @Override public void imageComplete(ImageReader source) {}
            @Override public void thumbnailStarted(ImageReader source, int imageIndex, int thumbnailIndex) {}
            @Override public void thumbnailProgress(ImageReader source, float percentageDone) {}
            @Override public void thumbnailComplete(ImageReader source) {}
            @Override public void readAborted(ImageReader source) {}
        });
    }
}
