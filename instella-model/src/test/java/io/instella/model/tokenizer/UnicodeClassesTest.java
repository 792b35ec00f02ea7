package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * Pins the character classes to those of HF tokenizers 0.23.2 (Oniguruma, Unicode 16.0). The sizes were
 * measured by running its ByteLevel pre-tokenizer on every code point; a JDK implementing another Unicode
 * version changes them, and then the pre-tokenisation of newly assigned characters may differ from HF.
 */
class UnicodeClassesTest {
    @Test
    void classSizesMatchTheReference() {
        int letters = 0;
        int numbers = 0;
        int spaces = 0;
        for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
            switch (UnicodeClasses.classOf(cp)) {
                case UnicodeClasses.LETTER -> letters++;
                case UnicodeClasses.NUMBER -> numbers++;
                case UnicodeClasses.SPACE -> spaces++;
                default -> { }
            }
        }
        assertThat(letters).as("\\p{L}").isEqualTo(141_028);
        assertThat(numbers).as("\\p{N}").isEqualTo(1_911);
        assertThat(spaces).as("\\s").isEqualTo(25);
    }

    @Test
    void examples() {
        assertThat(UnicodeClasses.classOf(0x1E5D0)).as("Ol Onal letter, new in Unicode 16").isEqualTo(
                UnicodeClasses.LETTER);
        assertThat(UnicodeClasses.classOf(0x180E)).as("Mongolian vowel separator is Cf since Unicode 6.3")
                .isEqualTo(UnicodeClasses.OTHER);
        assertThat(UnicodeClasses.classOf(0x200B)).as("zero width space is not White_Space")
                .isEqualTo(UnicodeClasses.OTHER);
        assertThat(UnicodeClasses.classOf(0x1C)).as("Java's isWhitespace differs here").isEqualTo(
                UnicodeClasses.OTHER);
        assertThat(UnicodeClasses.classOf(0xA0)).isEqualTo(UnicodeClasses.SPACE);
        assertThat(UnicodeClasses.classOf(0x2167)).as("Roman numeral eight is Nl").isEqualTo(
                UnicodeClasses.NUMBER);
        assertThat(UnicodeClasses.classOf(0x0301)).as("combining marks are neither L nor N").isEqualTo(
                UnicodeClasses.OTHER);
        assertThat(UnicodeClasses.isWordChar('_')).isTrue();
        assertThat(UnicodeClasses.isWordChar(0x0301)).isTrue();
        assertThat(UnicodeClasses.isWordChar('-')).isFalse();
    }
}
