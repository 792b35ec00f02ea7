package io.instella.train.data;

/**
 * A data problem that stops the run, in words for the user: a data file or mixture that cannot be read at all, a
 * bad option, or (with {@code --strict-data}) the first record that cannot be used — then with the same message
 * that would otherwise be counted as a skip.
 */
public final class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
