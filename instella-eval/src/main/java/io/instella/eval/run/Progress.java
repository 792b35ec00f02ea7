package io.instella.eval.run;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress with ETA on stderr: redrawn in place on a terminal, otherwise one line per ~5 % of the task.
 * The rate counts only documents generated in this run (resumed ones are already done).
 */
final class Progress {
    private final PrintWriter err;
    private final String task;
    private final int total;
    private final boolean interactive;
    private final LongSupplier nanoTime;
    private final long start;
    private final int resumed;
    private int done;
    private int lastPrinted = -1;

    Progress(PrintWriter err, String task, int total, int alreadyDone, boolean interactive, LongSupplier nanoTime) {
        this.err = err;
        this.task = task;
        this.total = total;
        this.interactive = interactive;
        this.nanoTime = nanoTime;
        this.start = nanoTime.getAsLong();
        this.resumed = alreadyDone;
        this.done = alreadyDone;
        if (alreadyDone > 0) {
            err.println("[" + task + "] resuming: " + alreadyDone + "/" + total + " documents already done");
            err.flush();
        }
    }

    void step() {
        done++;
        int step = Math.max(1, total / 20);
        if (interactive || done == total || done - Math.max(lastPrinted, resumed) >= step) {
            print();
            lastPrinted = done;
        }
    }

    void print() {
        int fresh = done - resumed;
        double elapsed = (nanoTime.getAsLong() - start) / 1e9;
        String rate = fresh > 0 ? String.format(Locale.ROOT, "%.2f s/doc", elapsed / fresh) : "-";
        String eta = fresh > 0 ? duration(elapsed / fresh * (total - done)) : "?";
        String line = String.format(Locale.ROOT, "[%s] %d/%d (%.0f%%) %s, ETA %s", task, done, total,
                total == 0 ? 100.0 : 100.0 * done / total, rate, eta);
        if (interactive) {
            err.print("\r" + line + (done == total ? "\n" : ""));
        } else {
            err.println(line);
        }
        err.flush();
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
}
