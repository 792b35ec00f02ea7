package io.instella.spark.cli;

import java.io.Serial;

/** A job cannot run as asked (an existing output, an unknown format); the message says what to do. */
final class JobException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    JobException(String message) {
        super(message);
    }
}
