package io.instella.spark.cli;

import io.instella.api.InstellaApiException;

import java.io.FileNotFoundException;
import java.io.IOException;

/** The one-line message of a failed job: the user-facing cause where there is one, not Spark's wrapping. */
final class JobFailures {
    private JobFailures() {
    }

    static String message(Throwable failure) {
        // A task failure reaches the driver as SparkException("Job aborted ... Task failed ...: <cause>"); the cause
        // (a model that cannot be loaded, say) is what the user can act on.
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof InstellaApiException || t instanceof JobException) return oneLine(t.getMessage());
        }
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException && t.getMessage() != null) return oneLine(t.getMessage());
            if (t instanceof FileNotFoundException && t.getMessage() != null) return "file not found: " + oneLine(t.getMessage());
        }
        String m = failure.getMessage();
        if (failure instanceof IOException && m != null) return oneLine(m);
        if (m == null || m.isBlank()) m = "no details";
        // Spark's own messages ("[PATH_NOT_FOUND] Path does not exist: ...") are written for users too.
        return oneLine(m);
    }

    private static String oneLine(String s) {
        String line = s == null ? "no details" : s.strip();
        int nl = line.indexOf('\n');
        return nl < 0 ? line : line.substring(0, nl).strip();
    }
}
