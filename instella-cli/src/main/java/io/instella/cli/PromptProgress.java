package io.instella.cli;

import io.instella.api.GenerationListener;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Shows on stderr what happens before the first answer token: images being encoded, then the prompt running
 * through the model (done/total positions, elapsed time). On a terminal one line is redrawn in place with a
 * spinner and erased when the answer starts; otherwise (logs, pipes) a plain line is printed every 10 s while it
 * lasts, with no control characters. Streams the answer text to {@code out}.
 */
final class PromptProgress implements GenerationListener, AutoCloseable {
    private static final String SPINNER = "|/-\\";
    private static final long LINE_EVERY_NANOS = 10_000_000_000L;

    private final PrintWriter out;
    private final PrintWriter err;
    private final boolean enabled;
    private final boolean tty;
    private final long startNanos = System.nanoTime();
    private final ScheduledExecutorService ticker;
    private String what = "preparing prompt";
    private boolean answering;
    private int tick;
    private int drawnWidth;
    private long lastLineNanos = System.nanoTime();
    private boolean wroteText;

    PromptProgress(PrintWriter out, PrintWriter err, boolean enabled) {
        this.out = out;
        this.err = err;
        this.enabled = enabled;
        this.tty = Tty.interactive(err);
        if (enabled) {
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "instella-progress");
                t.setDaemon(true);
                return t;
            });
            ticker.scheduleAtFixedRate(this::draw, 150, 100, TimeUnit.MILLISECONDS);
        } else {
            ticker = null;
        }
    }

    @Override
    public void onText(String delta) {
        stop();
        out.print(delta);
        out.flush();
        wroteText = true;
    }

    /** Whether any answer text was written (so the caller knows to end the line). */
    boolean wroteText() {
        return wroteText;
    }

    @Override
    public synchronized void onImageEncoded(int done, int total) {
        what = done < total ? "encoding image " + (done + 1) + "/" + total : "preparing prompt";
    }

    @Override
    public synchronized void onPromptProgress(int done, int total) {
        what = String.format(Locale.ROOT, "prompt %d/%d tokens (%d%%)", done, total, total == 0 ? 100 : done * 100L / total);
    }

    private synchronized void draw() {
        if (answering) return;
        long now = System.nanoTime();
        String line = String.format(Locale.ROOT, "%s  %.1f s", what, (now - startNanos) / 1e9);
        if (tty) {
            String text = SPINNER.charAt(tick++ % SPINNER.length()) + " " + line;
            String padded = text.length() < drawnWidth ? text + " ".repeat(drawnWidth - text.length()) : text;
            err.print("\r" + padded);
            err.flush();
            drawnWidth = text.length();
        } else if (now - lastLineNanos >= LINE_EVERY_NANOS) {
            lastLineNanos = now;
            err.println(line);
            err.flush();
        }
    }

    /** Stops the indicator and erases its line (idempotent). */
    synchronized void stop() {
        if (answering) return;
        answering = true;
        if (ticker != null) ticker.shutdownNow();
        if (tty && drawnWidth > 0) {
            err.print("\r" + " ".repeat(drawnWidth) + "\r");
            err.flush();
        }
    }

    @Override
    public void close() {
        stop();
    }
}
