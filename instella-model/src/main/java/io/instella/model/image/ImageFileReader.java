package io.instella.model.image;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads an image file into memory with a byte cap and a time limit. A regular file larger than the cap is refused
 * from its size, before any byte is read. Anything else (a FIFO, a device such as {@code /dev/zero}, a socket, a
 * {@code /proc} file that reports size 0) is read on a helper thread while the caller waits at most until the
 * decode's deadline: a FIFO with no writer or a device that never ends cannot hold the caller. Reading stops
 * after the first bytes when they are not an image's signature, and past the cap.
 */
final class ImageFileReader {
    private ImageFileReader() {}

    /** Enough bytes to recognise every supported signature (WebP's is the longest: RIFF, size, WEBP). */
    private static final int SIGNATURE_BYTES = 12;

    static byte[] read(Path file, String name, long maxBytes, DecodeBudget budget) {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            throw failure(name, e);
        }
        if (attributes.isDirectory()) {
            throw new ImageDecodeException(name, "is a directory, not an image file");
        }
        if (attributes.isRegularFile() && attributes.size() > maxBytes) {
            throw tooLarge(name, attributes.size() + " bytes", maxBytes);
        }
        if (attributes.isRegularFile() && attributes.size() > 0) {
            // An ordinary file: its size is known and reading it cannot block.
            try (InputStream in = Files.newInputStream(file)) {
                return readCapped(in, name, maxBytes);
            } catch (IOException e) {
                throw failure(name, e);
            }
        }
        return readWithTimeLimit(file, name, maxBytes, budget);
    }

    private static byte[] readWithTimeLimit(Path file, String name, long maxBytes, DecodeBudget budget) {
        AtomicBoolean opened = new AtomicBoolean();
        CompletableFuture<byte[]> result = new CompletableFuture<>();
        Thread reader = Thread.ofPlatform().daemon().name("instella-image-read").start(() -> {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                opened.set(true);
                // A channel's blocking read ends when this thread is interrupted (the channel is closed).
                result.complete(readCapped(Channels.newInputStream(channel), name, maxBytes));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        try {
            return result.get(budget.remainingNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            stop(reader, file, opened);
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TIME_LIMIT, "reading the file took "
                    + "longer than the limit of " + DecodeBudget.describe(budget.limit()) + " (a pipe or device "
                    + "that sends no data?)", null);
        } catch (InterruptedException e) {
            stop(reader, file, opened);
            Thread.currentThread().interrupt(); // the caller's cancellation stays visible to the caller
            throw cancelled(name);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof ImageDecodeException ide) throw ide;
            if (cause instanceof IOException io) throw failure(name, io);
            throw new ImageDecodeException(name, "cannot read the file", cause);
        }
    }

    /**
     * Ends the helper thread: an interrupt ends a blocked read; a thread still blocked opening a FIFO (no writer
     * yet) is released by opening the FIFO's writing end once, which lets its open return and then read EOF.
     */
    private static void stop(Thread reader, Path file, AtomicBoolean opened) {
        reader.interrupt();
        if (!opened.get() && isFifo(file)) {
            Thread.ofPlatform().daemon().name("instella-image-read-release").start(() -> {
                try (FileChannel ignored = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    // opening is all it takes
                } catch (IOException | RuntimeException ignored) {
                    // the reader went away by itself
                }
            });
        }
    }

    private static boolean isFifo(Path file) {
        try {
            Object mode = Files.getAttribute(file, "unix:mode");
            return mode instanceof Integer m && (m & 0170000) == 0010000;
        } catch (IOException | RuntimeException e) {
            return false; // no "unix" attribute view: no FIFOs to release either
        }
    }

    /** Reads to the end, at most {@code maxBytes}; stops early when the first bytes are no image signature. */
    private static byte[] readCapped(InputStream in, String name, long maxBytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        boolean signatureChecked = false;
        while (true) {
            int want = signatureChecked ? buffer.length : (int) (SIGNATURE_BYTES - total);
            int n = in.read(buffer, 0, want);
            if (n < 0) break;
            total += n;
            if (total > maxBytes) {
                throw tooLarge(name, "more than " + maxBytes + " bytes", maxBytes);
            }
            out.write(buffer, 0, n);
            if (!signatureChecked && total >= SIGNATURE_BYTES) {
                signatureChecked = true;
                // Not an image: the decoder refuses these bytes with their hex dump; no need to read further.
                if (ImageDecoder.sniff(out.toByteArray()) == null) break;
            }
            if (Thread.currentThread().isInterrupted()) throw new ClosedByInterruptException();
        }
        return out.toByteArray();
    }

    private static ImageDecodeException tooLarge(String name, String size, long maxBytes) {
        return new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, "file of " + size
                + " is larger than the limit of " + maxBytes + " bytes for an image (ImageDecoder.withMaxFileBytes)",
                null);
    }

    private static ImageDecodeException cancelled(String name) {
        return new ImageDecodeException(name, ImageDecodeException.Kind.CANCELLED, "reading the file was cancelled",
                null);
    }

    private static ImageDecodeException failure(String name, IOException e) {
        if (e instanceof ClosedByInterruptException) return cancelled(name);
        if (e instanceof NoSuchFileException) return new ImageDecodeException(name, "file not found");
        if (e instanceof AccessDeniedException) return new ImageDecodeException(name, "permission denied");
        String reason = e instanceof FileSystemException fse ? fse.getReason() : null;
        if (reason == null || reason.isBlank() || !ImageDecoder.isPlainText(reason)) reason = "read error";
        return new ImageDecodeException(name, "cannot read the file (" + reason + ")", e);
    }
}
