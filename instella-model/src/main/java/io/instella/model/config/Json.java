package io.instella.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Small helpers for reading config files with errors that name the file and the field. */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    static JsonNode read(Path file) {
        try {
            JsonNode n = MAPPER.readTree(Files.readString(file));
            if (n == null || !n.isObject()) throw new ConfigException(file + ": not a JSON object");
            return n;
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": file not found");
        } catch (IOException e) {
            throw new ConfigException(file + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
    }

    static int requireInt(Path file, JsonNode root, String field, int min) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) throw new ConfigException(file + ": missing required field '" + field + "'");
        if (!v.isIntegralNumber()) throw new ConfigException(file + ": field '" + field + "' must be an integer, got " + v);
        long x = v.asLong();
        if (x < min || x > Integer.MAX_VALUE) throw new ConfigException(file + ": field '" + field + "' = " + x + " is out of range (>= " + min + ")");
        return (int) x;
    }

    static int optInt(Path file, JsonNode root, String field, int dflt, int min) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        return requireInt(file, root, field, min);
    }

    static double optDouble(Path file, JsonNode root, String field, double dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber()) throw new ConfigException(file + ": field '" + field + "' must be a number, got " + v);
        return v.asDouble();
    }

    static String optString(Path file, JsonNode root, String field, String dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isTextual()) throw new ConfigException(file + ": field '" + field + "' must be a string, got " + v);
        return v.asText();
    }

    static boolean optBool(Path file, JsonNode root, String field, boolean dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw new ConfigException(file + ": field '" + field + "' must be true/false, got " + v);
        return v.asBoolean();
    }
}
