package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.eval.py.PyStr;

/** Python's {@code int(x)} for an int or a str field (whitespace, sign, Unicode digits, underscores). */
final class PyInt {
    private PyInt() {}

    static long parse(JsonNode v, String field) {
        if (v.isIntegralNumber()) return v.longValue();
        if (v.isBoolean()) return v.booleanValue() ? 1 : 0;
        if (!v.isTextual()) throw new EvalInputException("field '" + field + "' must be an integer or a digit string, got " + Docs.describe(v));
        String s = PyStr.strip(v.textValue());
        StringBuilder digits = new StringBuilder();
        int i = 0;
        boolean negative = false;
        if (!s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-')) {
            negative = s.charAt(0) == '-';
            i = 1;
        }
        boolean prevDigit = false;
        for (; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == '_' && prevDigit && i < s.length()) {
                prevDigit = false;
                continue;
            }
            if (Character.getType(cp) != Character.DECIMAL_DIGIT_NUMBER) {
                throw new EvalInputException("field '" + field + "': invalid literal for int(): '" + v.textValue() + "'");
            }
            digits.append(Character.digit(cp, 10));
            prevDigit = true;
        }
        if (digits.isEmpty() || !prevDigit) {
            throw new EvalInputException("field '" + field + "': invalid literal for int(): '" + v.textValue() + "'");
        }
        try {
            long n = Long.parseLong(digits.toString());
            return negative ? -n : n;
        } catch (NumberFormatException e) {
            throw new EvalInputException("field '" + field + "': integer too large: '" + v.textValue() + "'");
        }
    }
}
