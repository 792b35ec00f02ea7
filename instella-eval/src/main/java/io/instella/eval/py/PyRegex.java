package io.instella.eval.py;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Compiles Python {@code re} patterns (str patterns, Unicode mode) to {@link Pattern}s that match the same
 * text. Java's {@code \s}, {@code \w} and {@code \b} differ from Python's even with UNICODE_CHARACTER_CLASS
 * (Python's {@code \s} includes U+001C..U+001F; its {@code \w} is letters, numbers (e.g. "½") and "_" but no
 * combining marks), so those escapes are rewritten to explicit classes. {@code .} and {@code $} treat only
 * "\n" as a line break, as Python does.
 */
public final class PyRegex {
    private PyRegex() {}

    /** Inside-a-class body of Python's {@code \s}. */
    static final String SPACE_BODY =
            "\\t\\n\\x0B\\f\\r\\x1C-\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
    /** Inside-a-class body of Python's {@code \w}. */
    static final String WORD_BODY = "\\p{L}\\p{N}_";
    /** Inside-a-class body of Python's {@code \d}. */
    static final String DIGIT_BODY = "\\p{Nd}";

    private static final String WORD = "[" + WORD_BODY + "]";
    private static final String BOUNDARY = "(?:(?<=" + WORD + ")(?!" + WORD + ")|(?<!" + WORD + ")(?=" + WORD + "))";
    private static final String NON_BOUNDARY = "(?:(?<=" + WORD + ")(?=" + WORD + ")|(?<!" + WORD + ")(?!" + WORD + "))";

    /** Compiles a Python pattern (no flags). */
    public static Pattern compile(String python) {
        return Pattern.compile(translate(python), Pattern.UNIX_LINES);
    }

    /** Rewrites the Python-specific escapes of a pattern into Java syntax. */
    static String translate(String py) {
        StringBuilder out = new StringBuilder(py.length() + 32);
        boolean inClass = false;
        for (int i = 0; i < py.length(); i++) {
            char c = py.charAt(i);
            if (c == '\\' && i + 1 < py.length()) {
                char e = py.charAt(++i);
                String body = switch (e) {
                    case 's', 'S' -> SPACE_BODY;
                    case 'w', 'W' -> WORD_BODY;
                    case 'd', 'D' -> DIGIT_BODY;
                    default -> null;
                };
                if (body != null) {
                    boolean negated = Character.isUpperCase(e);
                    if (inClass) {
                        if (negated) {
                            throw new IllegalArgumentException("negated class escape inside [...] is not supported: " + py);
                        }
                        out.append(body);
                    } else {
                        out.append(negated ? "[^" : "[").append(body).append(']');
                    }
                } else if (e == 'b' && !inClass) {
                    out.append(BOUNDARY);
                } else if (e == 'B' && !inClass) {
                    out.append(NON_BOUNDARY);
                } else {
                    out.append('\\').append(e);
                }
                continue;
            }
            if (!inClass && c == '[') {
                inClass = true;
                out.append(c);
                // A ']' right after '[' or '[^' is a literal in Python.
                if (i + 1 < py.length() && py.charAt(i + 1) == '^') {
                    out.append('^');
                    i++;
                }
                if (i + 1 < py.length() && py.charAt(i + 1) == ']') {
                    out.append("\\]");
                    i++;
                }
                continue;
            }
            if (inClass && c == ']') {
                inClass = false;
                out.append(c);
                continue;
            }
            if (inClass && c == '[') {
                // A literal '[' inside a Python class; Java would start a nested class.
                out.append("\\[");
                continue;
            }
            if (inClass && (c == '&' || c == '~' || c == '|' || c == '-') && i + 1 < py.length() && py.charAt(i + 1) == c) {
                // Doubled set operators are literals in Python; escape so Java does not read "&&".
                out.append('\\').append(c);
                continue;
            }
            out.append(c);
        }
        return out.toString();
    }

    /** {@code re.escape(s)} joined into an alternation is matched like {@link Pattern#quote}: a literal. */
    public static String literal(String s) {
        return Pattern.quote(s);
    }

    /** {@code re.findall} for a pattern with exactly one group: the group of every match. */
    public static List<String> findAllGroup1(Pattern p, String s) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(s);
        while (m.find()) out.add(m.group(1));
        return out;
    }

    /** {@code re.findall} for a pattern without groups: every whole match. */
    public static List<String> findAll(Pattern p, String s) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(s);
        while (m.find()) out.add(m.group());
        return out;
    }

    /** {@code re.split(pattern, s)} for a pattern without groups that cannot match the empty string. */
    public static List<String> split(Pattern p, String s) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(s);
        int last = 0;
        while (m.find()) {
            out.add(s.substring(last, m.start()));
            last = m.end();
        }
        out.add(s.substring(last));
        return out;
    }

    /** {@code re.sub(pattern, repl, s, count)} with a literal replacement; count 0 means all. */
    public static String sub(Pattern p, String literalReplacement, String s, int count) {
        Matcher m = p.matcher(s);
        StringBuilder out = new StringBuilder(s.length());
        int last = 0;
        int done = 0;
        while ((count == 0 || done < count) && m.find()) {
            out.append(s, last, m.start()).append(literalReplacement);
            last = m.end();
            done++;
        }
        out.append(s, last, s.length());
        return out.toString();
    }
}
