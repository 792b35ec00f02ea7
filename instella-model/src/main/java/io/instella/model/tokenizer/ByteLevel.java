package io.instella.model.tokenizer;

/**
 * GPT-2 byte-level pieces: the reversible byte-to-character table and the GPT-2 pre-tokenisation regex
 * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}.
 *
 * <p>The regex is evaluated by a hand-written scanner that reproduces the backtracking engine's result (first
 * matching alternative, greedy runs) in one linear pass: each alternative's match is determined by the class of
 * the first one or two code points, and {@code \s+(?!\S)} gives back exactly one whitespace character when the
 * run is followed by a non-space.
 */
final class ByteLevel {
    /** Character standing for each byte (GPT-2 {@code bytes_to_unicode}). */
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** Byte for each character of {@link #BYTE_TO_CHAR}, -1 elsewhere (indexes 0..511). */
    private static final short[] CHAR_TO_BYTE = new short[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a byte-level character stands for, or -1 when the character is not one of the 256. */
    static int charToByte(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The byte-level string of some UTF-8 bytes (one character per byte). */
    static String toByteLevel(byte[] utf8) {
        char[] out = new char[utf8.length];
        for (int i = 0; i < utf8.length; i++) {
            out[i] = BYTE_TO_CHAR[utf8[i] & 0xFF];
        }
        return new String(out);
    }

    /**
     * What the byte-level decoder turns one token string into: the bytes its characters stand for when every
     * character is a byte-level character, otherwise the token's own UTF-8 bytes (as HF does for added tokens
     * such as runs of spaces).
     */
    static byte[] decodeToken(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = charToByte(token.charAt(i));
            if (b < 0) {
                return token.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            }
            out[i] = (byte) b;
        }
        return out;
    }

    /** Receives the [start, end) char ranges of the pre-tokens of a string. */
    @FunctionalInterface
    interface RangeSink {
        void accept(int start, int end);
    }

    /** Splits {@code s} into GPT-2 pre-tokens, reporting them in order; they cover {@code s} exactly. */
    static void splitGpt2(String s, RangeSink sink) {
        int n = s.length();
        int i = 0;
        while (i < n) {
            int end = gpt2MatchEnd(s, i, n);
            sink.accept(i, end);
            i = end;
        }
    }

    /** End of the regex match that starts at {@code i} (the regex matches at every position). */
    private static int gpt2MatchEnd(String s, int i, int n) {
        char c = s.charAt(i);
        if (c == '\'' && i + 1 < n) {
            char d = s.charAt(i + 1);
            if (d == 's' || d == 't' || d == 'm' || d == 'd') {
                return i + 2;
            }
            if (i + 2 < n) {
                char e = s.charAt(i + 2);
                if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
                    return i + 3;
                }
            }
        }
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a run of one class.
        int runStart = (c == ' ' && i + 1 < n) ? i + 1 : i;
        int cp = s.codePointAt(runStart);
        byte cls = UnicodeClasses.classOf(cp);
        if (cls != UnicodeClasses.SPACE) {
            int k = runStart + Character.charCount(cp);
            while (k < n) {
                int next = s.codePointAt(k);
                if (UnicodeClasses.classOf(next) != cls) {
                    break;
                }
                k += Character.charCount(next);
            }
            return k;
        }
        // "\s+(?!\S)" then "\s+". White_Space characters are all in the BMP (one char each).
        int k = i;
        while (k < n && UnicodeClasses.isWhiteSpace(s.charAt(k))) {
            k++;
        }
        if (k == n || k - i == 1) {
            return k;
        }
        return k - 1;
    }
}
