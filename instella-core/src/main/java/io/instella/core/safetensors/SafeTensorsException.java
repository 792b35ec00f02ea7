package io.instella.core.safetensors;

/** A checkpoint file that cannot be used; the message names the file, the tensor and what to do. */
public class SafeTensorsException extends RuntimeException {
    public SafeTensorsException(String message) { super(io.instella.core.util.UserMessages.abbreviate(message)); }
    public SafeTensorsException(String message, Throwable cause) { super(io.instella.core.util.UserMessages.abbreviate(message), cause); }
}
