package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.eval.py.PyJson;

import java.util.ArrayList;
import java.util.List;

/** Typed access to a dataset row, failing with {@link EvalInputException} that names the field. */
public final class Docs {
    private Docs() {}

    /** {@code doc[key]}: present (may be JSON null). */
    public static JsonNode get(JsonNode doc, String key) {
        JsonNode v = doc.get(key);
        if (v == null) throw new EvalInputException("missing field '" + key + "'");
        return v;
    }

    /** {@code doc[key]} where the code calls str methods on it: must be a string. */
    public static String text(JsonNode doc, String key) {
        JsonNode v = get(doc, key);
        if (!v.isTextual()) throw new EvalInputException("field '" + key + "' must be a string, got " + describe(v));
        return v.textValue();
    }

    /** {@code f"{doc[key]}"}: Python's str() of whatever the field holds. */
    public static String format(JsonNode doc, String key) {
        return PyJson.str(get(doc, key));
    }

    /** {@code doc[key]} as a list of strings. */
    public static List<String> textList(JsonNode doc, String key) {
        JsonNode v = get(doc, key);
        if (!v.isArray()) throw new EvalInputException("field '" + key + "' must be a list of strings, got " + describe(v));
        List<String> out = new ArrayList<>();
        for (JsonNode item : v) {
            if (!item.isTextual()) {
                throw new EvalInputException("field '" + key + "' must be a list of strings, has element " + describe(item));
            }
            out.add(item.textValue());
        }
        return out;
    }

    /** Python truthiness of a field value. */
    public static boolean truthy(JsonNode v) {
        if (v == null || v.isNull() || v.isMissingNode()) return false;
        if (v.isTextual()) return !v.textValue().isEmpty();
        if (v.isBoolean()) return v.booleanValue();
        if (v.isNumber()) return v.doubleValue() != 0.0;
        if (v.isContainerNode()) return !v.isEmpty();
        return true;
    }

    /** Python list indexing {@code seq[i]} (negative counts from the end). */
    public static <T> T pyIndex(List<T> seq, long i, String what) {
        long j = i < 0 ? seq.size() + i : i;
        if (j < 0 || j >= seq.size()) {
            throw new EvalInputException(what + " index " + i + " is out of range for " + seq.size() + " options");
        }
        return seq.get((int) j);
    }

    static String describe(JsonNode v) {
        String s = v.toString();
        return v.getNodeType().name().toLowerCase() + " " + (s.length() > 60 ? s.substring(0, 60) + "..." : s);
    }
}
