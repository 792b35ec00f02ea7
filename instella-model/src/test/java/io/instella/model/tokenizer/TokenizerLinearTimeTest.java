package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * 1 MiB inputs that would be quadratic for a naive BPE or regex (one huge word, huge whitespace runs, huge CJK
 * runs, a base with a million combining marks). Each must finish well inside the timeout (about 0.1–0.5 s each
 * on one core when measured); the bound is generous on purpose, this is not a benchmark.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class TokenizerLinearTimeTest {
    private static final int MIB = 1 << 20;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = OlmoTokenizer.get();
    }

    private static void assertRoundTrip(String s) {
        int[] ids = tokenizer.encode(s);
        assertThat(ids.length).isPositive();
        assertThat(tokenizer.decode(ids)).isEqualTo(s);
    }

    @Test
    void oneLongWord() {
        assertRoundTrip("a".repeat(MIB));
    }

    @Test
    void longRandomLowercaseWord() {
        SplittableRandom random = new SplittableRandom(5);
        StringBuilder s = new StringBuilder(MIB);
        for (int i = 0; i < MIB; i++) {
            s.append((char) ('a' + random.nextInt(26)));
        }
        assertRoundTrip(s.toString());
    }

    @Test
    void spacesBecomeTheLongestAddedToken() {
        int[] ids = tokenizer.encode(" ".repeat(MIB));
        // 2^20 = 43690 * 24 + 16.
        assertThat(ids).hasSize(43_691);
        for (int i = 0; i < ids.length - 1; i++) {
            assertThat(ids[i]).isEqualTo(50254);
        }
        assertThat(ids[ids.length - 1]).isEqualTo(tokenizer.tokenId(" ".repeat(16)).getAsInt());
    }

    @Test
    void tabsAndNewlines() {
        assertRoundTrip("\t".repeat(MIB));
        assertRoundTrip("\n".repeat(MIB));
        assertRoundTrip("\r\n".repeat(MIB / 2));
        assertRoundTrip("\u3000".repeat(MIB));
    }

    @Test
    void randomCjk() {
        SplittableRandom random = new SplittableRandom(7);
        StringBuilder s = new StringBuilder(MIB);
        for (int i = 0; i < MIB; i++) {
            s.appendCodePoint(0x4E00 + random.nextInt(0x5200));
        }
        assertRoundTrip(s.toString());
    }

    @Test
    void digitsPunctuationAndAlternatingWords() {
        assertRoundTrip("7".repeat(MIB));
        assertRoundTrip("!".repeat(MIB));
        assertRoundTrip(" a".repeat(MIB / 2));
        assertRoundTrip("|".repeat(MIB));
        assertRoundTrip("<|endoftext|>".repeat(MIB / 13));
    }

    @Test
    void combiningMarks() {
        String s = "e" + "\u0301".repeat(MIB);
        assertThat(tokenizer.decode(tokenizer.encode(s))).isEqualTo("é" + "\u0301".repeat(MIB - 1));
    }

    @Test
    void emojiWithZeroWidthJoiners() {
        assertRoundTrip("👨\u200d👩\u200d👧".repeat(MIB / 8));
    }
}
