package io.instella.model.tokenizer;

/**
 * UTF-8 helpers with the exact behaviour of Rust's {@code String::from_utf8_lossy}, which HF's byte-level
 * decoder uses: every maximal ill-formed subsequence (the longest prefix of a well-formed sequence that cannot
 * be completed, or a single byte that starts none) becomes one U+FFFD.
 */
final class Utf8 {
    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {}

    /**
     * Returns {@code s} with every unpaired surrogate replaced by U+FFFD (a Java string can hold them; the UTF-8
     * text HF tokenises cannot). Returns {@code s} itself when there is none.
     */
    static String replaceUnpairedSurrogates(String s) {
        int n = s.length();
        int i = 0;
        while (i < n && !Character.isSurrogate(s.charAt(i))) {
            i++;
        }
        if (i == n) {
            return s;
        }
        StringBuilder out = null;
        for (int k = i; k < n; k++) {
            char c = s.charAt(k);
            if (!Character.isSurrogate(c)) {
                continue;
            }
            boolean paired = Character.isHighSurrogate(c) && k + 1 < n && Character.isLowSurrogate(s.charAt(k + 1));
            if (paired) {
                k++;
                continue;
            }
            if (out == null) {
                out = new StringBuilder(n).append(s, 0, k);
            } else {
                out.append(s, out.length(), k);
            }
            out.append(REPLACEMENT);
        }
        if (out == null) {
            return s;
        }
        out.append(s, out.length(), n);
        return out.toString();
    }

    /**
     * Decodes {@code bytes[from, to)} into {@code out}, replacing ill-formed subsequences by U+FFFD. When
     * {@code endOfInput} is false, a well-formed but incomplete sequence at the end is left undecoded (more bytes
     * may complete it) and the returned index points at it; otherwise it becomes one U+FFFD and {@code to} is
     * returned.
     */
    static int decodeLossy(byte[] bytes, int from, int to, StringBuilder out, boolean endOfInput) {
        int i = from;
        while (i < to) {
            int b0 = bytes[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int width;
            int codePoint;
            if (b0 >= 0xC2 && b0 <= 0xDF) {
                width = 2;
                codePoint = b0 & 0x1F;
            } else if (b0 >= 0xE0 && b0 <= 0xEF) {
                width = 3;
                codePoint = b0 & 0x0F;
            } else if (b0 >= 0xF0 && b0 <= 0xF4) {
                width = 4;
                codePoint = b0 & 0x07;
            } else {
                out.append(REPLACEMENT);
                i++;
                continue;
            }
            // Allowed range of the second byte excludes overlongs, surrogates and code points above U+10FFFF.
            int secondLow = b0 == 0xE0 ? 0xA0 : b0 == 0xF0 ? 0x90 : 0x80;
            int secondHigh = b0 == 0xED ? 0x9F : b0 == 0xF4 ? 0x8F : 0xBF;
            int k = 1;
            boolean illFormed = false;
            while (k < width) {
                if (i + k >= to) {
                    if (!endOfInput) {
                        return i;
                    }
                    out.append(REPLACEMENT);
                    return to;
                }
                int b = bytes[i + k] & 0xFF;
                int low = k == 1 ? secondLow : 0x80;
                int high = k == 1 ? secondHigh : 0xBF;
                if (b < low || b > high) {
                    illFormed = true;
                    break;
                }
                codePoint = (codePoint << 6) | (b & 0x3F);
                k++;
            }
            if (illFormed) {
                out.append(REPLACEMENT);
                i += k;
                continue;
            }
            out.appendCodePoint(codePoint);
            i += width;
        }
        return to;
    }

    /** {@code from_utf8_lossy} of a whole byte array. */
    static String decodeLossy(byte[] bytes, int length) {
        StringBuilder out = new StringBuilder(length);
        decodeLossy(bytes, 0, length, out, true);
        return out.toString();
    }
}
