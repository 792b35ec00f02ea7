package io.instella.model.tokenizer;

/**
 * The Unicode character classes used by the GPT-2 pre-tokenisation regex ({@code \p{L}}, {@code \p{N}},
 * {@code \s}) and by the added-token word checks ({@code \w}).
 *
 * <p>{@code \p{L}} is the general categories Lu, Ll, Lt, Lm, Lo; {@code \p{N}} is Nd, Nl, No; {@code \s} is the
 * Unicode White_Space property (what Oniguruma, used by HF {@code tokenizers}, means by {@code \s}). The
 * categories come from the running JDK: Java 25 implements Unicode 16.0, which is what the Oniguruma inside HF
 * {@code tokenizers} 0.23.2 classifies with (checked code point by code point during development; the test
 * {@code UnicodeClassesTest} pins the class sizes so that a JDK with a different Unicode version is noticed).
 */
final class UnicodeClasses {
    static final byte OTHER = 0;
    static final byte LETTER = 1;
    static final byte NUMBER = 2;
    static final byte SPACE = 3;

    /** Class of every BMP code point, so that the hot loop avoids {@link Character#getType(int)}. */
    private static final byte[] BMP = new byte[0x10000];

    static {
        for (int cp = 0; cp < 0x10000; cp++) {
            BMP[cp] = compute(cp);
        }
    }

    private UnicodeClasses() {}

    /** One of {@link #OTHER}, {@link #LETTER}, {@link #NUMBER}, {@link #SPACE}. */
    static byte classOf(int cp) {
        return cp < 0x10000 ? BMP[cp] : compute(cp);
    }

    private static byte compute(int cp) {
        if (isWhiteSpace(cp)) {
            return SPACE;
        }
        if (Character.isLetter(cp)) {
            return LETTER;
        }
        int type = Character.getType(cp);
        if (type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER) {
            return NUMBER;
        }
        return OTHER;
    }

    /** The Unicode White_Space property (25 code points, unchanged since Unicode 6.3). */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    /**
     * Rust {@code regex}'s Unicode {@code \w}: Alphabetic, marks (Mn, Mc, Me), decimal digits, connector
     * punctuation and the joiners U+200C/U+200D. Used only for {@code single_word} added tokens.
     */
    static boolean isWordChar(int cp) {
        if (Character.isAlphabetic(cp) || cp == 0x200C || cp == 0x200D) {
            return true;
        }
        int type = Character.getType(cp);
        return type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK
                || type == Character.ENCLOSING_MARK || type == Character.DECIMAL_DIGIT_NUMBER
                || type == Character.CONNECTOR_PUNCTUATION;
    }
}
