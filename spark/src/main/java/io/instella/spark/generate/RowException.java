package io.instella.spark.generate;

import io.instella.api.InstellaApiException;

import java.io.Serial;

/** Why one row cannot be answered; the message goes to the row's {@code error} column. */
final class RowException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    RowException(String message) {
        super(message, null, false, false);
    }

    /**
     * The row error for a failure of the model API: its own message where it has one for users (the API's
     * exceptions and argument checks do), a generic one otherwise.
     */
    static RowException of(RuntimeException e) {
        if (e instanceof RowException r) return r;
        String m = e.getMessage();
        if ((e instanceof InstellaApiException || e instanceof IllegalArgumentException || e instanceof IllegalStateException)
                && m != null && !m.isBlank()) {
            return new RowException(m);
        }
        return new RowException("the model failed on this row (" + (m == null || m.isBlank() ? "no details" : m) + ")");
    }
}
