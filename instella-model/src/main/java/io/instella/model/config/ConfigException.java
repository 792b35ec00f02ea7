package io.instella.model.config;

/** A config file that is missing, malformed, or describes something this engine does not support. */
public class ConfigException extends RuntimeException {
    public ConfigException(String message) { super(io.instella.core.util.UserMessages.abbreviate(message)); }
    public ConfigException(String message, Throwable cause) { super(io.instella.core.util.UserMessages.abbreviate(message), cause); }
}
