package io.instella.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A seeded generator of awkward text for property tests: whitespace runs of every kind (including CRLF, tabs,
 * the 2..24-space added tokens and longer), contractions, CJK, Hangul jamo and combining marks (NFC-sensitive),
 * emoji with ZWJ and skin tones, long words, digit and punctuation runs, the added-token strings and near misses
 * embedded in text, random code points from every plane, and unpaired surrogates.
 */
final class GeneratedText {
    private static final String[] WORDS = {
        "the", "The", "hello", "world", "don't", "I'm", "we're", "they've", "you'll", "he'd", "it's", "'S", "'T",
        "'Re", "naïve", "café", "résumé", "Ünïcödé", "straße", "ﬁ", "Ⅻ", "½", "²", "٣", "१२३", "ǅ", "ᾼ", "Ω", "Å",
        "Å", "Ω", "किसी", "ไทย", "עברית", "العربية", "Ελληνικά", "русский", "日本語", "中文", "한국어",
    };
    private static final String[] ADDED = {
        "<|endoftext|>", "<|padding|>", "|||IP_ADDRESS|||", "|||EMAIL_ADDRESS|||", "|||PHONE_NUMBER|||",
        "<|endoftext|", "|||IP_ADDRESS||", "||||IP_ADDRESS||||", "<|padding|><|endoftext|>", "<image>",
        "<|user|>", "<|assistant|>",
    };
    private static final String[] SPACES = {
        " ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u180e", "\u200b",
        "\u2009", "\u000b", "\u000c", "\u1680", "\u202f", "\u205f", "\u001c",
    };
    private static final String[] PUNCTUATION = {
        "!", "?", ".", ",", "'", "\"", "(", ")", "-", "—", "“", "”", "…", "#", "*", "|", "<", ">", "_", "«", "»",
        "¿", "、", "。", "！",
    };
    private static final String[] EMOJI = {"👨", "👩", "👧", "👍", "🙂", "🏳", "❤"};
    private static final String[] EMOJI_TAILS = {"\u200d👩", "\u200d👧", "🏽", "\ufe0f\u200d🌈", "\ufe0f", ""};
    private static final String[] BASES = {"e", "a", "o", "u", "n", "A", "ᄀ", "가", ">", "=", "<", "ع", "क"};

    private final SplittableRandom random;

    GeneratedText(long seed) {
        this.random = new SplittableRandom(seed);
    }

    List<String> strings(int count) {
        List<String> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(next());
        }
        return out;
    }

    String next() {
        StringBuilder s = new StringBuilder();
        int pieces = random.nextInt(12);
        for (int i = 0; i < pieces; i++) {
            appendPiece(s);
        }
        return s.toString();
    }

    private String pick(String[] options) {
        return options[random.nextInt(options.length)];
    }

    private void appendPiece(StringBuilder s) {
        int kind = random.nextInt(100);
        if (kind < 16) {
            s.append(pick(WORDS));
        } else if (kind < 26) {
            String other = pick(SPACES);
            int n = 1 + random.nextInt(40);
            for (int i = 0; i < n; i++) {
                s.append(random.nextInt(10) < 8 ? " " : other);
            }
        } else if (kind < 34) {
            s.append(pick(SPACES).repeat(1 + random.nextInt(5)));
        } else if (kind < 42) {
            s.append(pick(ADDED));
        } else if (kind < 50) {
            int n = 1 + random.nextInt(14);
            for (int i = 0; i < n; i++) {
                s.append((char) ('0' + random.nextInt(10)));
            }
        } else if (kind < 56) {
            int n = 1 + random.nextInt(8);
            for (int i = 0; i < n; i++) {
                s.append(pick(PUNCTUATION));
            }
        } else if (kind < 64) {
            // A base followed by combining marks in random order (NFC composes and reorders them).
            s.append(pick(BASES));
            int marks = 1 + random.nextInt(3);
            for (int i = 0; i < marks; i++) {
                s.appendCodePoint(random.nextInt(4) == 0 ? 0x0323 : 0x0300 + random.nextInt(0x70));
            }
        } else if (kind < 68) {
            // Conjoining Hangul jamo L V (T): NFC composes them into a syllable.
            s.appendCodePoint(0x1100 + random.nextInt(19)).appendCodePoint(0x1161 + random.nextInt(21));
            if (random.nextBoolean()) {
                s.appendCodePoint(0x11A8 + random.nextInt(27));
            }
        } else if (kind < 74) {
            s.append(pick(EMOJI)).append(pick(EMOJI_TAILS));
        } else if (kind < 77) {
            int n = 100 + random.nextInt(3000);
            for (int i = 0; i < n; i++) {
                s.append((char) ('a' + random.nextInt(26)));
            }
        } else if (kind < 83) {
            int n = 1 + random.nextInt(20);
            for (int i = 0; i < n; i++) {
                s.appendCodePoint(0x4E00 + random.nextInt(0x5200));
            }
        } else if (kind < 86) {
            // Unpaired surrogates, alone or in the wrong order.
            if (random.nextBoolean()) {
                s.append((char) (0xD800 + random.nextInt(0x800)));
            } else {
                s.append((char) (0xDC00 + random.nextInt(0x400))).append((char) (0xD800 + random.nextInt(0x400)));
            }
        } else {
            int n = 1 + random.nextInt(6);
            for (int i = 0; i < n; i++) {
                s.appendCodePoint(randomScalarValue());
            }
        }
    }

    /** Any code point except surrogates, weighted towards the BMP and the emoji planes. */
    private int randomScalarValue() {
        while (true) {
            int r = random.nextInt(10);
            int cp = r < 3 ? random.nextInt(0x80)
                    : r < 5 ? 0x80 + random.nextInt(0x780)
                    : r < 7 ? random.nextInt(0x10000)
                    : r < 8 ? 0x1F300 + random.nextInt(0x700)
                    : random.nextInt(0x110000);
            if (cp < 0xD800 || cp > 0xDFFF) {
                return cp;
            }
        }
    }
}
