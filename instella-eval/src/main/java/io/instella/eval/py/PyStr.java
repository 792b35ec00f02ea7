package io.instella.eval.py;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Python 3 {@code str} semantics that the lmms-eval scorers rely on and that Java's own String methods get
 * wrong: Python's whitespace set, {@code strip}/{@code split}, full-Unicode case mappings, {@code capitalize},
 * {@code float(s)} and {@code round(x, n)}. Lengths are in code points, as Python counts them.
 */
public final class PyStr {
    private PyStr() {}

    /** {@code str.isspace()} for one code point (Python's whitespace, not Java's). */
    public static boolean isSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0
                || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029
                || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    }

    /** {@code s.strip()}. */
    public static String strip(String s) {
        return rstrip(lstrip(s));
    }

    /** {@code s.lstrip()}. */
    public static String lstrip(String s) {
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            if (!isSpace(cp)) break;
            i += Character.charCount(cp);
        }
        return s.substring(i);
    }

    /** {@code s.rstrip()}. */
    public static String rstrip(String s) {
        int end = s.length();
        while (end > 0) {
            int cp = s.codePointBefore(end);
            if (!isSpace(cp)) break;
            end -= Character.charCount(cp);
        }
        return s.substring(0, end);
    }

    /** {@code s.strip(chars)}: removes any code point of {@code chars} from both ends. */
    public static String strip(String s, String chars) {
        return rstrip(lstrip(s, chars), chars);
    }

    /** {@code s.lstrip(chars)}. */
    public static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            if (chars.indexOf(cp) < 0) break;
            i += Character.charCount(cp);
        }
        return s.substring(i);
    }

    /** {@code s.rstrip(chars)}. */
    public static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0) {
            int cp = s.codePointBefore(end);
            if (chars.indexOf(cp) < 0) break;
            end -= Character.charCount(cp);
        }
        return s.substring(0, end);
    }

    /** {@code s.split()} (no argument): runs of Python whitespace separate, empty strings dropped. */
    public static List<String> split(String s) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
            if (i >= n) break;
            int start = i;
            while (i < n && !isSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
            out.add(s.substring(start, i));
        }
        return out;
    }

    /** {@code str.lower()} (full Unicode mapping, e.g. "İ" becomes two code points). */
    public static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    /** {@code str.upper()} (full Unicode mapping, e.g. "ß" becomes "SS"). */
    public static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }

    /** Number of code points ({@code len(s)} in Python). */
    public static int len(String s) {
        return s.codePointCount(0, s.length());
    }

    /** The first {@code n} code points of {@code s} ({@code s[:n]}). */
    public static String headCodePoints(String s, int n) {
        if (n <= 0) return "";
        int count = len(s);
        if (n >= count) return s;
        return s.substring(0, s.offsetByCodePoints(0, n));
    }

    /** The code point at code-point index {@code i} as a string ({@code s[i]}), or null when out of range. */
    public static String charAt(String s, int i) {
        if (i < 0 || i >= len(s)) return null;
        int off = s.offsetByCodePoints(0, i);
        return new String(Character.toChars(s.codePointAt(off)));
    }

    /**
     * Code-point slice {@code s[from:to]} with Python's clamping (non-negative bounds only).
     */
    public static String slice(String s, int from, int to) {
        int n = len(s);
        int a = Math.min(Math.max(from, 0), n);
        int b = Math.min(Math.max(to, 0), n);
        if (b <= a) return "";
        return s.substring(s.offsetByCodePoints(0, a), s.offsetByCodePoints(0, b));
    }

    /** {@code str.capitalize()} (Python 3.8+): full title case of the first code point, the rest lower-cased. */
    public static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        String firstLower = new String(Character.toChars(first)).toLowerCase(Locale.ROOT);
        // Lower-case the whole string so that context rules (final sigma) see the first letter, then drop
        // the first letter's own lower-case form: a first letter is never in a final-sigma context itself.
        String restLower = lower(s).substring(firstLower.length());
        return titleFull(first) + restLower;
    }

    /** Python's full title-case mapping of one code point (SpecialCasing.txt entries included). */
    static String titleFull(int cp) {
        String special = FULL_TITLE.get(cp);
        if (special != null) return special;
        return new String(Character.toChars(Character.toTitleCase(cp)));
    }

    // Code points whose full title-case mapping has more than one code point (Unicode 14, as in CPython 3.11).
    private static final Map<Integer, String> FULL_TITLE = buildFullTitle(
            "00DF:0053.0073 0149:02BC.004E 01F0:004A.030C 0390:0399.0308.0301 03B0:03A5.0308.0301 0587:0535.0582 "
                    + "1E96:0048.0331 1E97:0054.0308 1E98:0057.030A 1E99:0059.030A 1E9A:0041.02BE 1F50:03A5.0313 "
                    + "1F52:03A5.0313.0300 1F54:03A5.0313.0301 1F56:03A5.0313.0342 1FB2:1FBA.0345 1FB4:0386.0345 "
                    + "1FB6:0391.0342 1FB7:0391.0342.0345 1FC2:1FCA.0345 1FC4:0389.0345 1FC6:0397.0342 "
                    + "1FC7:0397.0342.0345 1FD2:0399.0308.0300 1FD3:0399.0308.0301 1FD6:0399.0342 1FD7:0399.0308.0342 "
                    + "1FE2:03A5.0308.0300 1FE3:03A5.0308.0301 1FE4:03A1.0313 1FE6:03A5.0342 1FE7:03A5.0308.0342 "
                    + "1FF2:1FFA.0345 1FF4:038F.0345 1FF6:03A9.0342 1FF7:03A9.0342.0345 FB00:0046.0066 FB01:0046.0069 "
                    + "FB02:0046.006C FB03:0046.0066.0069 FB04:0046.0066.006C FB05:0053.0074 FB06:0053.0074 "
                    + "FB13:0544.0576 FB14:0544.0565 FB15:0544.056B FB16:054E.0576 FB17:0544.056D");

    private static Map<Integer, String> buildFullTitle(String table) {
        java.util.HashMap<Integer, String> m = new java.util.HashMap<>();
        for (String entry : table.split(" ")) {
            String[] kv = entry.split(":");
            StringBuilder sb = new StringBuilder();
            for (String hex : kv[1].split("\\.")) sb.appendCodePoint(Integer.parseInt(hex, 16));
            m.put(Integer.parseInt(kv[0], 16), sb.toString());
        }
        return Map.copyOf(m);
    }

    /**
     * Python's {@code float(s)} for a str argument, or null where Python raises ValueError.
     * Accepts surrounding whitespace, any Unicode decimal digit, underscores between digits,
     * {@code inf}/{@code infinity}/{@code nan} in any case with an optional sign.
     */
    public static Double parseFloat(String s) {
        // CPython first maps non-ASCII whitespace to ' ' and non-ASCII decimal digits to ASCII ones; any other
        // non-ASCII code point makes the string invalid. ASCII is copied unchanged.
        StringBuilder ascii = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp < 127) {
                ascii.append((char) cp);
            } else if (isSpace(cp)) {
                ascii.append(' ');
            } else if (Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER) {
                ascii.append((char) ('0' + Character.digit(cp, 10)));
            } else {
                return null;
            }
        }
        String t = ascii.toString();
        // Underscores: only between two digits.
        if (t.indexOf('_') >= 0) {
            StringBuilder noUnderscore = new StringBuilder(t.length());
            char prev = 0;
            for (int i = 0; i < t.length(); i++) {
                char c = t.charAt(i);
                if (c == '_') {
                    if (!(prev >= '0' && prev <= '9')) return null;
                } else {
                    noUnderscore.append(c);
                    if (prev == '_' && !(c >= '0' && c <= '9')) return null;
                }
                prev = c;
            }
            if (prev == '_') return null;
            t = noUnderscore.toString();
        }
        // Strip ASCII whitespace only (Py_ISSPACE): \x1c-\x1f are not stripped here.
        int a = 0;
        int b = t.length();
        while (a < b && isAsciiSpace(t.charAt(a))) a++;
        while (b > a && isAsciiSpace(t.charAt(b - 1))) b--;
        t = t.substring(a, b);
        if (t.isEmpty()) return null;
        String body = t;
        boolean negative = false;
        if (body.charAt(0) == '+' || body.charAt(0) == '-') {
            negative = body.charAt(0) == '-';
            body = body.substring(1);
        }
        String lowerBody = body.toLowerCase(Locale.ROOT);
        if (lowerBody.equals("inf") || lowerBody.equals("infinity")) {
            return negative ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (lowerBody.equals("nan")) {
            return Double.NaN;
        }
        if (!DECIMAL.matcher(body).matches()) return null;
        double v = Double.parseDouble(body);
        return negative ? -v : v;
    }

    private static final java.util.regex.Pattern DECIMAL =
            java.util.regex.Pattern.compile("(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?");

    private static boolean isAsciiSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
    }

    /** Python's {@code round(x, ndigits)} for a float: half-even on the exact binary value. */
    public static double round(double x, int ndigits) {
        if (Double.isNaN(x) || Double.isInfinite(x)) return x;
        double r = new BigDecimal(x).setScale(ndigits, RoundingMode.HALF_EVEN).doubleValue();
        // Python keeps the sign of a result that rounds to zero (round(-0.001, 2) == -0.0).
        return r == 0.0 ? Math.copySign(0.0, x) : r;
    }

    /** {@code text in s} with Python's str semantics (plain substring test). */
    public static boolean contains(String s, String text) {
        return s.contains(text);
    }
}
