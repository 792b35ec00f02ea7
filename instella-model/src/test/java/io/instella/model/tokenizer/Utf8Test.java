package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Lossy UTF-8 decoding with maximal-subpart replacement (Unicode §3.9, as Rust's from_utf8_lossy). */
class Utf8Test {
    private static String lossy(int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) bytes[i];
        }
        return Utf8.decodeLossy(b, b.length);
    }

    @Test
    void unicodeStandardExample() {
        // Unicode 16.0 §3.9, Table 3-8: <61 F1 80 80 E1 80 C2 62 80 63 80 BF 64>.
        assertThat(lossy(0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64))
                .isEqualTo("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
    }

    @Test
    void overlongsSurrogatesAndOutOfRangeAreOneReplacementPerByte() {
        assertThat(lossy(0xC0, 0xAF)).isEqualTo("\uFFFD\uFFFD");
        assertThat(lossy(0xE0, 0x80, 0x80)).isEqualTo("\uFFFD\uFFFD\uFFFD");
        assertThat(lossy(0xED, 0xA0, 0x80)).isEqualTo("\uFFFD\uFFFD\uFFFD");
        assertThat(lossy(0xF4, 0x90, 0x80, 0x80)).isEqualTo("\uFFFD\uFFFD\uFFFD\uFFFD");
        assertThat(lossy(0xF5)).isEqualTo("\uFFFD");
    }

    @Test
    void truncatedSequencesAreOneReplacement() {
        assertThat(lossy(0xE2, 0x82)).isEqualTo("\uFFFD");
        assertThat(lossy(0xF0, 0x9F, 0x98)).isEqualTo("\uFFFD");
        assertThat(lossy(0xF0, 0x9F, 0x98, 0x41)).isEqualTo("\uFFFDA");
        assertThat(lossy(0xE2, 0x82, 0xAC, 0xE2)).isEqualTo("€\uFFFD");
    }

    @Test
    void validTextIsUnchanged() {
        String s = "aé€😀\u0000\u007f\uFFFD";
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertThat(Utf8.decodeLossy(b, b.length)).isEqualTo(s);
    }

    @Test
    void incompleteTailIsKeptWhenMoreInputMayFollow() {
        byte[] b = {0x61, (byte) 0xE2, (byte) 0x82};
        StringBuilder out = new StringBuilder();
        assertThat(Utf8.decodeLossy(b, 0, b.length, out, false)).isEqualTo(1);
        assertThat(out.toString()).isEqualTo("a");
        byte[] bad = {(byte) 0xE2, 0x41};
        out.setLength(0);
        assertThat(Utf8.decodeLossy(bad, 0, bad.length, out, false)).isEqualTo(2);
        assertThat(out.toString()).isEqualTo("\uFFFDA");
    }

    @Test
    void unpairedSurrogatesAreReplaced() {
        assertThat(Utf8.replaceUnpairedSurrogates("abc")).isEqualTo("abc");
        assertThat(Utf8.replaceUnpairedSurrogates("\uD83D\uDE00")).isEqualTo("\uD83D\uDE00");
        assertThat(Utf8.replaceUnpairedSurrogates("a\uD800")).isEqualTo("a\uFFFD");
        assertThat(Utf8.replaceUnpairedSurrogates("\uDC00a\uD83D\uDE00\uD800\uD800b"))
                .isEqualTo("\uFFFDa\uD83D\uDE00\uFFFD\uFFFDb");
        assertThat(Utf8.replaceUnpairedSurrogates("\uDE00\uD83D")).isEqualTo("\uFFFD\uFFFD");
    }
}
