package io.instella.model.lora;

import io.instella.model.InstellaException;

/** A LoRA adapter that cannot be read, written or applied: the message names the file or tensor and what to do. */
public class LoraException extends InstellaException {
    public LoraException(String message) { super(message); }
    public LoraException(String message, Throwable cause) { super(message, cause); }
}
