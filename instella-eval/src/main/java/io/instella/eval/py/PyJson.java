package io.instella.eval.py;

import com.fasterxml.jackson.databind.JsonNode;

import java.math.BigDecimal;
import java.util.Iterator;
import java.util.Map;

/**
 * Writes values the way Python writes them, so that files and hashes match lmms-eval's:
 * {@code json.dumps(obj, ensure_ascii=False)} (optionally {@code indent=2}), {@code repr(float)},
 * and {@code str(obj)} (used for the logged target and its hash).
 * Values are Jackson trees; integers and floats stay distinct as in Python (IntNode vs DoubleNode).
 */
public final class PyJson {
    private PyJson() {}

    /** {@code json.dumps(node, ensure_ascii=False)} with the default separators {@code ", "} and {@code ": "}. */
    public static String dumps(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(sb, node, -1, 0);
        return sb.toString();
    }

    /** {@code json.dumps(node, indent=2, ensure_ascii=False)}. */
    public static String dumpsIndented(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(sb, node, 2, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, JsonNode node, int indent, int level) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            sb.append("null");
        } else if (node.isTextual()) {
            writeString(sb, node.textValue());
        } else if (node.isBoolean()) {
            sb.append(node.booleanValue() ? "true" : "false");
        } else if (node.isIntegralNumber()) {
            sb.append(node.bigIntegerValue().toString());
        } else if (node.isNumber()) {
            double d = node.doubleValue();
            if (Double.isNaN(d)) sb.append("NaN");
            else if (Double.isInfinite(d)) sb.append(d > 0 ? "Infinity" : "-Infinity");
            else sb.append(floatRepr(d));
        } else if (node.isArray()) {
            if (node.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            boolean first = true;
            for (JsonNode item : node) {
                if (!first) sb.append(indent < 0 ? ", " : ",");
                first = false;
                newline(sb, indent, level + 1);
                write(sb, item, indent, level + 1);
            }
            newline(sb, indent, level);
            sb.append(']');
        } else if (node.isObject()) {
            if (node.isEmpty()) {
                sb.append("{}");
                return;
            }
            sb.append('{');
            boolean first = true;
            for (Iterator<Map.Entry<String, JsonNode>> it = node.properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!first) sb.append(indent < 0 ? ", " : ",");
                first = false;
                newline(sb, indent, level + 1);
                writeString(sb, e.getKey());
                sb.append(": ");
                write(sb, e.getValue(), indent, level + 1);
            }
            newline(sb, indent, level);
            sb.append('}');
        } else {
            throw new IllegalArgumentException("cannot write JSON node of type " + node.getNodeType());
        }
    }

    private static void newline(StringBuilder sb, int indent, int level) {
        if (indent < 0) return;
        sb.append('\n');
        sb.append(" ".repeat(indent * level));
    }

    private static void writeString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /** {@code repr(x)} for a finite float: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
    public static String floatRepr(double x) {
        if (Double.isNaN(x)) return "nan";
        if (Double.isInfinite(x)) return x > 0 ? "inf" : "-inf";
        if (x == 0.0) return (1.0 / x < 0) ? "-0.0" : "0.0";
        String sign = x < 0 ? "-" : "";
        // Java's Double.toString gives the shortest digits that round-trip (JDK 19+), as Python's repr does.
        double ax = Math.abs(x);
        BigDecimal bd = new BigDecimal(Double.toString(ax)).stripTrailingZeros();
        if (bd.precision() == 2) {
            // Java never prints fewer than 2 digits and then picks the closest 2-digit decimal (4.9E-324);
            // Python prints the shortest (5e-324): use a 1-digit decimal when one round-trips.
            BigDecimal down = bd.round(new java.math.MathContext(1, java.math.RoundingMode.FLOOR));
            BigDecimal up = bd.round(new java.math.MathContext(1, java.math.RoundingMode.CEILING));
            boolean downOk = down.doubleValue() == ax;
            boolean upOk = up.doubleValue() == ax;
            if (downOk && upOk) {
                BigDecimal exact = new BigDecimal(ax);
                bd = exact.subtract(down).abs().compareTo(up.subtract(exact).abs()) <= 0 ? down : up;
            } else if (downOk) {
                bd = down;
            } else if (upOk) {
                bd = up;
            }
            bd = bd.stripTrailingZeros();
        }
        String digits = bd.unscaledValue().toString();
        int n = digits.length();
        int decpt = n - bd.scale(); // value = 0.d1d2...dn * 10^decpt
        StringBuilder sb = new StringBuilder(sign);
        if (decpt <= -4 || decpt > 16) {
            sb.append(digits.charAt(0));
            if (n > 1) sb.append('.').append(digits, 1, n);
            int exp = decpt - 1;
            sb.append('e').append(exp < 0 ? '-' : '+');
            int a = Math.abs(exp);
            if (a < 10) sb.append('0');
            sb.append(a);
        } else if (decpt <= 0) {
            sb.append("0.").append("0".repeat(-decpt)).append(digits);
        } else if (decpt >= n) {
            sb.append(digits).append("0".repeat(decpt - n)).append(".0");
        } else {
            sb.append(digits, 0, decpt).append('.').append(digits, decpt, n);
        }
        return sb.toString();
    }

    /** Python's {@code str(value)} for a JSON-representable value (lists and dicts use repr of their items). */
    public static String str(JsonNode node) {
        if (node != null && node.isTextual()) return node.textValue();
        return repr(node);
    }

    /** Python's {@code repr(value)}. */
    public static String repr(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        writeRepr(sb, node);
        return sb.toString();
    }

    private static void writeRepr(StringBuilder sb, JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            sb.append("None");
        } else if (node.isTextual()) {
            sb.append(reprString(node.textValue()));
        } else if (node.isBoolean()) {
            sb.append(node.booleanValue() ? "True" : "False");
        } else if (node.isIntegralNumber()) {
            sb.append(node.bigIntegerValue().toString());
        } else if (node.isNumber()) {
            sb.append(floatRepr(node.doubleValue()));
        } else if (node.isArray()) {
            sb.append('[');
            boolean first = true;
            for (JsonNode item : node) {
                if (!first) sb.append(", ");
                first = false;
                writeRepr(sb, item);
            }
            sb.append(']');
        } else if (node.isObject()) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                if (!first) sb.append(", ");
                first = false;
                sb.append(reprString(e.getKey())).append(": ");
                writeRepr(sb, e.getValue());
            }
            sb.append('}');
        } else {
            throw new IllegalArgumentException("no Python repr for JSON node of type " + node.getNodeType());
        }
    }

    /** {@code repr(s)} for a str: single quotes unless the text has ' and no ", non-printables escaped. */
    public static String reprString(String s) {
        char quote = (s.indexOf('\'') >= 0 && s.indexOf('"') < 0) ? '"' : '\'';
        StringBuilder sb = new StringBuilder(s.length() + 2).append(quote);
        s.codePoints().forEach(cp -> {
            if (cp == quote || cp == '\\') {
                sb.append('\\').appendCodePoint(cp);
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp < ' ' || cp == 0x7F) {
                sb.append(String.format("\\x%02x", cp));
            } else if (cp < 0x7F || isPrintable(cp)) {
                sb.appendCodePoint(cp);
            } else if (cp <= 0xFF) {
                sb.append(String.format("\\x%02x", cp));
            } else if (cp <= 0xFFFF) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.append(String.format("\\U%08x", cp));
            }
        });
        return sb.append(quote).toString();
    }

    /** {@code str.isprintable()} for one non-ASCII code point. */
    private static boolean isPrintable(int cp) {
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                 Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                 Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }
}
