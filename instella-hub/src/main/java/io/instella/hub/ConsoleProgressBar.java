package io.instella.hub;

import java.io.Console;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress on a console stream (stderr by default): file name, bytes, percent, rate and ETA. On a terminal the line is
 * redrawn in place with {@code \r}; otherwise (logs, pipes) a plain line is printed periodically and at the end.
 */
public final class ConsoleProgressBar implements DownloadListener {

    private static final long TTY_REDRAW_NANOS = Duration.ofMillis(100).toNanos();
    private static final int BAR_WIDTH = 24;
    private static final int MAX_NAME = 40;

    private final PrintStream out;
    private final boolean interactive;
    private final LongSupplier nanoClock;
    private final long lineIntervalNanos;

    private String file;
    private long total;
    private long startBytes;
    private long startNanos;
    private long lastDrawNanos;
    private int lastWidth;

    /** Progress on stderr; redraws in place when the process runs in a terminal. */
    public ConsoleProgressBar() {
        this(System.err, isTerminal());
    }

    /**
     * @param out         where to draw
     * @param interactive true to redraw one line with {@code \r}; false to print a line every 10 s
     */
    public ConsoleProgressBar(PrintStream out, boolean interactive) {
        this(out, interactive, System::nanoTime, Duration.ofSeconds(10));
    }

    ConsoleProgressBar(PrintStream out, boolean interactive, LongSupplier nanoClock, Duration lineInterval) {
        this.out = out;
        this.interactive = interactive;
        this.nanoClock = nanoClock;
        this.lineIntervalNanos = lineInterval.toNanos();
    }

    private static boolean isTerminal() {
        Console console = System.console();
        return console != null && console.isTerminal();
    }

    @Override
    public synchronized void onStart(String file, long totalBytes, long alreadyHave) {
        this.file = file;
        this.total = totalBytes;
        this.startBytes = alreadyHave;
        this.startNanos = nanoClock.getAsLong();
        this.lastDrawNanos = startNanos;
        this.lastWidth = 0;
        if (interactive) {
            draw(alreadyHave, startNanos);
        } else {
            out.println(shortName(file) + ": downloading " + bytes(totalBytes)
                    + (alreadyHave > 0 ? " (resuming at " + bytes(alreadyHave) + ")" : ""));
        }
    }

    @Override
    public synchronized void onProgress(String file, long bytesDone, long totalBytes) {
        if (!file.equals(this.file)) {
            onStart(file, totalBytes, bytesDone);
        }
        this.total = totalBytes;
        long now = nanoClock.getAsLong();
        long interval = interactive ? TTY_REDRAW_NANOS : lineIntervalNanos;
        if (now - lastDrawNanos >= interval) {
            lastDrawNanos = now;
            draw(bytesDone, now);
        }
    }

    @Override
    public synchronized void onComplete(String file, Path path) {
        long now = nanoClock.getAsLong();
        if (file.equals(this.file)) {
            if (interactive) {
                draw(total, now);
                out.println();
            } else {
                out.println(line(file, total, total, rate(total, now), false));
            }
        }
        this.file = null;
        out.flush();
    }

    @Override
    public synchronized void onMessage(String message) {
        if (interactive && file != null && lastWidth > 0) {
            out.print("\r" + " ".repeat(lastWidth) + "\r");
            lastWidth = 0;
        }
        out.println(message);
        out.flush();
    }

    private void draw(long done, long now) {
        String text = line(file, done, total, rate(done, now), interactive);
        if (interactive) {
            String padded = text.length() < lastWidth ? text + " ".repeat(lastWidth - text.length()) : text;
            out.print("\r" + padded);
            lastWidth = text.length();
        } else {
            out.println(text);
        }
        out.flush();
    }

    private double rate(long done, long now) {
        double seconds = (now - startNanos) / 1e9;
        return seconds > 0 ? (done - startBytes) / seconds : 0;
    }

    /** One progress line: name, bytes done / total, percent, rate, ETA; with a bar when {@code withBar}. */
    static String line(String file, long done, long total, double bytesPerSecond, boolean withBar) {
        StringBuilder sb = new StringBuilder(shortName(file)).append("  ");
        if (total > 0) {
            double fraction = Math.min(1.0, Math.max(0.0, done / (double) total));
            if (withBar) {
                int filled = (int) Math.round(fraction * BAR_WIDTH);
                sb.append('[').append("=".repeat(filled)).append(" ".repeat(BAR_WIDTH - filled)).append("] ");
            }
            sb.append(String.format(Locale.ROOT, "%5.1f%%  ", fraction * 100));
            sb.append(bytes(done)).append(" / ").append(bytes(total));
        } else {
            sb.append(bytes(done));
        }
        if (bytesPerSecond > 0) {
            sb.append("  ").append(bytes(Math.round(bytesPerSecond))).append("/s");
            if (total > 0 && done < total) {
                sb.append("  ETA ").append(duration((long) Math.ceil((total - done) / bytesPerSecond)));
            }
        }
        return sb.toString();
    }

    private static String shortName(String file) {
        return file.length() > MAX_NAME ? "..." + file.substring(file.length() - MAX_NAME) : file;
    }

    /** Decimal units as tqdm and the Hub website show them: 1.5 MB = 1,500,000 bytes. */
    static String bytes(long n) {
        if (n < 1000) {
            return n + " B";
        }
        String[] units = {"kB", "MB", "GB", "TB", "PB"};
        double v = n;
        int unit = -1;
        while (v >= 999.95 && unit < units.length - 1) {
            v /= 1000;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[unit]);
    }

    static String duration(long seconds) {
        long h = seconds / 3600;
        long m = (seconds % 3600) / 60;
        long s = seconds % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, s)
                : String.format(Locale.ROOT, "%d:%02d", m, s);
    }
}
