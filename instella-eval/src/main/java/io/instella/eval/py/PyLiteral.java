package io.instella.eval.py;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code ast.literal_eval} for the one shape the benchmarks store as text: a list of str literals
 * (MMMU's {@code options} column, e.g. {@code "['cat', \"dog's\"]"}). Single, double and triple quotes,
 * r/u prefixes, adjacent-literal concatenation and Python's escape sequences are understood.
 */
public final class PyLiteral {
    private PyLiteral() {}

    /** Parses a Python list of string literals; throws IllegalArgumentException naming the problem. */
    public static List<String> parseStringList(String text) {
        Parser p = new Parser(text);
        p.skipSpace();
        p.expect('[');
        List<String> out = new ArrayList<>();
        p.skipSpace();
        if (p.peek() == ']') {
            p.pos++;
        } else {
            while (true) {
                out.add(p.stringLiteral());
                p.skipSpace();
                char c = p.peek();
                if (c == ',') {
                    p.pos++;
                    p.skipSpace();
                    if (p.peek() == ']') {
                        p.pos++;
                        break;
                    }
                } else if (c == ']') {
                    p.pos++;
                    break;
                } else {
                    throw p.error("expected ',' or ']'");
                }
            }
        }
        p.skipSpace();
        if (p.pos != text.length()) throw p.error("unexpected text after the list");
        return out;
    }

    private static final class Parser {
        final String s;
        int pos;

        Parser(String s) {
            this.s = s;
        }

        char peek() {
            return pos < s.length() ? s.charAt(pos) : '\0';
        }

        void expect(char c) {
            if (peek() != c) throw error("expected '" + c + "'");
            pos++;
        }

        IllegalArgumentException error(String what) {
            return new IllegalArgumentException("not a Python list of strings (" + what + " at offset " + pos + "): " + s);
        }

        void skipSpace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0B) {
                    pos++;
                } else if (c == '\\' && pos + 1 < s.length() && s.charAt(pos + 1) == '\n') {
                    pos += 2;
                } else if (c == '#') {
                    while (pos < s.length() && s.charAt(pos) != '\n') pos++;
                } else {
                    break;
                }
            }
        }

        /** One or more adjacent string literals, concatenated. */
        String stringLiteral() {
            StringBuilder sb = new StringBuilder();
            boolean any = false;
            while (true) {
                int save = pos;
                boolean raw = false;
                while (pos < s.length() && "rRuU".indexOf(s.charAt(pos)) >= 0 && pos - save < 2) {
                    if (s.charAt(pos) == 'r' || s.charAt(pos) == 'R') raw = true;
                    pos++;
                }
                char q = peek();
                if (q != '\'' && q != '"') {
                    pos = save;
                    if (!any) throw error("expected a string literal");
                    return sb.toString();
                }
                boolean triple = s.startsWith(String.valueOf(q).repeat(3), pos);
                pos += triple ? 3 : 1;
                readBody(sb, q, triple, raw);
                any = true;
                int afterLiteral = pos;
                skipSpace();
                char next = peek();
                if (next != '\'' && next != '"' && "rRuU".indexOf(next) < 0) {
                    pos = afterLiteral;
                    return sb.toString();
                }
            }
        }

        void readBody(StringBuilder sb, char q, boolean triple, boolean raw) {
            while (true) {
                if (pos >= s.length()) throw error("unterminated string");
                char c = s.charAt(pos);
                if (c == q && (!triple || s.startsWith(String.valueOf(q).repeat(3), pos))) {
                    pos += triple ? 3 : 1;
                    return;
                }
                if (c == '\n' && !triple) throw error("newline inside a string");
                if (c == '\\') {
                    if (pos + 1 >= s.length()) throw error("unterminated string");
                    char e = s.charAt(pos + 1);
                    if (raw) {
                        sb.append(c).append(e);
                        pos += 2;
                        continue;
                    }
                    pos += 2;
                    switch (e) {
                        case '\n' -> { }
                        case '\\' -> sb.append('\\');
                        case '\'' -> sb.append('\'');
                        case '"' -> sb.append('"');
                        case 'a' -> sb.append('\u0007');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'n' -> sb.append('\n');
                        case 'r' -> sb.append('\r');
                        case 't' -> sb.append('\t');
                        case 'v' -> sb.append('\u000B');
                        case 'x' -> sb.appendCodePoint(hex(2));
                        case 'u' -> sb.appendCodePoint(hex(4));
                        case 'U' -> sb.appendCodePoint(hex(8));
                        case 'N' -> throw error("\\N{...} escapes are not supported");
                        default -> {
                            if (e >= '0' && e <= '7') {
                                int v = e - '0';
                                for (int k = 0; k < 2 && pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '7'; k++) {
                                    v = v * 8 + (s.charAt(pos++) - '0');
                                }
                                sb.appendCodePoint(v);
                            } else {
                                sb.append('\\').append(e); // unknown escapes stay as written
                            }
                        }
                    }
                    continue;
                }
                sb.append(c);
                pos++;
            }
        }

        int hex(int digits) {
            if (pos + digits > s.length()) throw error("truncated escape");
            String h = s.substring(pos, pos + digits);
            pos += digits;
            try {
                int v = Integer.parseUnsignedInt(h, 16);
                if (v > 0x10FFFF) throw error("escape out of range");
                return v;
            } catch (NumberFormatException ex) {
                throw error("bad hex escape '" + h + "'");
            }
        }
    }
}
