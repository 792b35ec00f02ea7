package io.instella.model;

/** A user-facing error: the message says what is wrong and what to do. */
public class InstellaException extends RuntimeException {
    public InstellaException(String message) { super(message); }
    public InstellaException(String message, Throwable cause) { super(message, cause); }
}
