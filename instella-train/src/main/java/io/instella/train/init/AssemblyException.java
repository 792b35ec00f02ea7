package io.instella.train.init;

import io.instella.model.InstellaException;

/** Why an Instella checkpoint could not be built from the given language model and vision tower. */
public class AssemblyException extends InstellaException {
    public AssemblyException(String message) { super(message); }

    public AssemblyException(String message, Throwable cause) { super(message, cause); }
}
