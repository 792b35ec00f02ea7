package io.instella.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Small helpers for reading config files with errors that name the file and the field. Every value is
 * type-checked (a string where a number belongs is an error, never 0) and every integer range-checked as
 * written: a number past the range is refused, never wrapped.
 */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();
    /** Config files are a few KB; anything this large is not one (and is not read into memory). */
    static final long MAX_FILE_BYTES = 16L << 20;

    private Json() {}

    static JsonNode read(Path file) {
        try {
            if (Files.exists(file) && !Files.isRegularFile(file)) {
                throw new ConfigException(file + ": not a regular file");
            }
            long size = Files.size(file);
            if (size > MAX_FILE_BYTES) {
                throw new ConfigException(file + ": is " + size + " bytes, too large for a config file (at most " + MAX_FILE_BYTES + ")");
            }
            JsonNode n = MAPPER.readTree(Files.readAllBytes(file));
            if (n == null || !n.isObject()) throw new ConfigException(file + ": not a JSON object");
            return n;
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": file not found");
        } catch (IOException e) {
            throw new ConfigException(file + ": not valid JSON (" + String.valueOf(e.getMessage()).lines().findFirst().orElse("") + ")", e);
        }
    }

    static int requireInt(Path file, JsonNode root, String field, int min) {
        return requireInt(file, root, field, min, Integer.MAX_VALUE);
    }

    static int requireInt(Path file, JsonNode root, String field, int min, int max) {
        return requireInt(file, "", root, field, min, max);
    }

    /** @param where prefix of the field's name in messages, e.g. "vision_config." for a nested object */
    static int requireInt(Path file, String where, JsonNode root, String field, int min, int max) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) throw new ConfigException(file + ": missing required field '" + where + field + "'");
        return toInt(file, where + field, v, min, max);
    }

    /** An integer value in [min, max], checked as written (a huge number is out of range, never wrapped). */
    static int toInt(Path file, String field, JsonNode v, int min, int max) {
        if (!v.isIntegralNumber()) throw new ConfigException(file + ": field '" + field + "' must be an integer, got " + v);
        if (!v.canConvertToLong() || v.longValue() < min || v.longValue() > max) {
            throw new ConfigException(file + ": field '" + field + "' = " + v + " is out of range (" + min + " to " + max + ")");
        }
        return (int) v.longValue();
    }

    static int optInt(Path file, JsonNode root, String field, int dflt, int min) {
        return optInt(file, root, field, dflt, min, Integer.MAX_VALUE);
    }

    static int optInt(Path file, JsonNode root, String field, int dflt, int min, int max) {
        return optInt(file, "", root, field, dflt, min, max);
    }

    static int optInt(Path file, String where, JsonNode root, String field, int dflt, int min, int max) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        return toInt(file, where + field, v, min, max);
    }

    /** An optional integer (null when absent or null). */
    /** {@code pad_token_id}: an id below {@code vocabSize}, or null when absent, null or -1 (how some configs say "none"). */
    static Integer padTokenId(Path file, JsonNode root, int vocabSize) {
        Integer pad = optInteger(file, root, "pad_token_id", -1, vocabSize - 1);
        return pad != null && pad == -1 ? null : pad;
    }

    static Integer optInteger(Path file, JsonNode root, String field, int min, int max) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return null;
        return toInt(file, field, v, min, max);
    }

    /**
     * A token id field as transformers writes it: an integer, a list of integers, an empty list or null.
     * Absent, null and [] all give an empty list ("no id here").
     */
    static List<Integer> tokenIds(Path file, JsonNode root, String field, int vocabSize) {
        JsonNode v = root.get(field);
        List<Integer> ids = new ArrayList<>();
        if (v == null || v.isNull()) return ids;
        if (v.isArray()) {
            for (int i = 0; i < v.size(); i++) ids.add(toInt(file, field + "[" + i + "]", v.get(i), 0, vocabSize - 1));
        } else if (v.isIntegralNumber()) {
            ids.add(toInt(file, field, v, 0, vocabSize - 1));
        } else {
            throw new ConfigException(file + ": field '" + field + "' must be a token id or a list of token ids, got " + v);
        }
        return ids;
    }

    static double optDouble(Path file, JsonNode root, String field, double dflt) {
        return optDouble(file, "", root, field, dflt);
    }

    static double optDouble(Path file, String where, JsonNode root, String field, double dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber()) throw new ConfigException(file + ": field '" + where + field + "' must be a number, got " + v);
        double d = v.asDouble();
        if (!Double.isFinite(d)) throw new ConfigException(file + ": field '" + where + field + "' = " + v + " is not a finite number");
        return d;
    }

    /** An optional number in [min, max] (inclusive unless the bound is excluded with minExclusive). */
    static double optDouble(Path file, String where, JsonNode root, String field, double dflt, double min, boolean minExclusive, double max) {
        double d = optDouble(file, where, root, field, dflt);
        if (d < min || minExclusive && d == min || d > max) {
            throw new ConfigException(file + ": field '" + where + field + "' = " + d + " is out of range (" + (minExclusive ? "above " : "")
                    + min + " to " + max + ")");
        }
        return d;
    }

    static String optString(Path file, JsonNode root, String field, String dflt) {
        return optString(file, "", root, field, dflt);
    }

    static String optString(Path file, String where, JsonNode root, String field, String dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isTextual()) throw new ConfigException(file + ": field '" + where + field + "' must be a string, got " + v);
        return v.asText();
    }

    static boolean optBool(Path file, JsonNode root, String field, boolean dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw new ConfigException(file + ": field '" + field + "' must be true/false, got " + v);
        return v.asBoolean();
    }
}
