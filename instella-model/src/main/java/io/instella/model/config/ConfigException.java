package io.instella.model.config;

/** A config file that is missing, malformed, or describes something this engine does not support. */
public class ConfigException extends RuntimeException {
    public ConfigException(String message) { super(message); }
    public ConfigException(String message, Throwable cause) { super(message, cause); }
}
