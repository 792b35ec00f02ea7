package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Properties of the OLMo tokenizer over a seeded corpus of generated text (see {@link GeneratedText}); a failure
 * names the seed and the string so that it reproduces.
 */
class TokenizerPropertyTest {
    private static final long SEED = 0x1A57E11AL;
    private static final int COUNT = 4000;
    private static final Pattern RAW_ADDED_TOKENS = Pattern.compile("<\\|endoftext\\|>|<\\|padding\\|>");

    private static Tokenizer tokenizer;
    private static List<String> corpus;

    @BeforeAll
    static void load() {
        tokenizer = OlmoTokenizer.get();
        corpus = new GeneratedText(SEED).strings(COUNT);
    }

    private static java.util.function.Supplier<String> describe(int index, String s) {
        return () -> describeNow(index, s);
    }

    private static String describeNow(int index, String s) {
        StringBuilder escaped = new StringBuilder();
        s.chars().forEach(c -> escaped.append(c >= 0x20 && c < 0x7F ? String.valueOf((char) c)
                : String.format("\\u%04X", c)));
        return "seed " + SEED + " string #" + index + " \"" + escaped + "\"";
    }

    /** Independent of the implementation: unpaired surrogates (which codePoints() yields alone) become U+FFFD. */
    private static String withoutUnpairedSurrogates(String s) {
        StringBuilder out = new StringBuilder();
        s.codePoints().forEach(cp -> out.appendCodePoint(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp));
        return out.toString();
    }

    /**
     * What decode(encode(s)) must give: the text with unpaired surrogates replaced and NFC applied to the parts
     * between the non-normalised added tokens (HF normalises those parts separately, so e.g. ">" of
     * "<|endoftext|>" never composes with a following U+0338).
     */
    static String expectedRoundTrip(String s) {
        String text = withoutUnpairedSurrogates(s);
        StringBuilder out = new StringBuilder();
        Matcher m = RAW_ADDED_TOKENS.matcher(text);
        int last = 0;
        while (m.find()) {
            out.append(Normalizer.normalize(text.substring(last, m.start()), Normalizer.Form.NFC)).append(m.group());
            last = m.end();
        }
        out.append(Normalizer.normalize(text.substring(last), Normalizer.Form.NFC));
        return out.toString();
    }

    @Test
    void decodeOfEncodeIsTheNormalisedTextAndIdsAreInRange() {
        for (int i = 0; i < corpus.size(); i++) {
            String s = corpus.get(i);
            int[] ids = tokenizer.encode(s);
            String expected = expectedRoundTrip(s);
            assertThat(tokenizer.decode(ids)).as(describe(i, s)).isEqualTo(expected);
            assertThat(java.util.Arrays.stream(ids).min().orElse(0)).as(describe(i, s)).isNotNegative();
            assertThat(java.util.Arrays.stream(ids).max().orElse(0)).as(describe(i, s)).isLessThan(50280);
            // Every token covers at least one byte of the normalised text.
            assertThat(ids.length).as(describe(i, s))
                    .isLessThanOrEqualTo(expected.getBytes(StandardCharsets.UTF_8).length);
        }
    }

    @Test
    void skippingSpecialTokensRemovesExactlyTheSpecialTokenTexts() {
        for (int i = 0; i < corpus.size(); i++) {
            String s = corpus.get(i);
            String expected = RAW_ADDED_TOKENS.matcher(expectedRoundTrip(s)).replaceAll("");
            assertThat(tokenizer.decode(tokenizer.encode(s), true)).as(describe(i, s)).isEqualTo(expected);
        }
    }

    @Test
    void encodingIsDeterministicWithAndWithoutTheWordCache() {
        Tokenizer fresh = Tokenizer.load(io.instella.core.testing.Golden.dir().resolve("model/tokenizer.json"));
        for (int i = 0; i < 1000; i++) {
            String s = corpus.get(i);
            int[] first = tokenizer.encode(s);
            assertThat(tokenizer.encode(s)).as(describe(i, s)).containsExactly(first);
            assertThat(fresh.encode(s)).as(describe(i, s)).containsExactly(first);
        }
    }

    /** Concurrent encoding (shared word cache) gives the same ids as sequential encoding. */
    @Test
    void concurrentEncodingAgreesWithSequential() {
        List<String> sample = corpus.subList(0, 800);
        List<int[]> sequential = sample.stream().map(tokenizer::encode).toList();
        List<int[]> parallel = sample.parallelStream().map(tokenizer::encode).toList();
        for (int i = 0; i < sample.size(); i++) {
            assertThat(parallel.get(i)).as(describe(i, sample.get(i))).containsExactly(sequential.get(i));
        }
    }

    /**
     * Non-normalised added tokens are split out of the raw text first, so the text on either side is tokenised
     * on its own: encode(a + "<|endoftext|>" + b) == encode(a) + [0] + encode(b).
     */
    @Test
    void specialTokenSeparatesIndependentEncodings() {
        for (int i = 0; i + 1 < corpus.size(); i += 2) {
            String a = corpus.get(i);
            String b = corpus.get(i + 1);
            int[] expected = IntStream.concat(IntStream.concat(IntStream.of(tokenizer.encode(a)), IntStream.of(0)),
                    IntStream.of(tokenizer.encode(b))).toArray();
            assertThat(tokenizer.encode(a + "<|endoftext|>" + b)).as(describe(i, a + "|" + b))
                    .containsExactly(expected);
        }
    }

    /** Streaming decode, ids pushed in random groups, concatenates to exactly decode(ids). */
    @Test
    void incrementalDecodingConcatenatesToDecode() {
        SplittableRandom random = new SplittableRandom(SEED);
        for (int i = 0; i < corpus.size(); i++) {
            String s = corpus.get(i);
            int[] ids = tokenizer.encode(s);
            for (boolean skip : new boolean[] {false, true}) {
                IncrementalDecoder decoder = tokenizer.newIncrementalDecoder(skip);
                StringBuilder streamed = new StringBuilder();
                String decoded = tokenizer.decode(ids, skip);
                int k = 0;
                while (k < ids.length) {
                    int n = 1 + random.nextInt(3);
                    int[] group = java.util.Arrays.copyOfRange(ids, k, Math.min(ids.length, k + n));
                    String piece = group.length == 1 ? decoder.push(group[0]) : decoder.push(group);
                    // Text that decodes without U+FFFD must never show one mid-stream.
                    if (!decoded.contains("\uFFFD")) {
                        assertThat(piece).as(describe(i, s)).doesNotContain("\uFFFD");
                    }
                    streamed.append(piece);
                    k += group.length;
                }
                assertThat(decoder.hasPendingBytes()).as(describe(i, s)).isFalse();
                streamed.append(decoder.finish());
                assertThat(streamed.toString()).as(describe(i, s)).isEqualTo(decoded);
            }
        }
    }

    /** Random id sequences (byte tokens that cut characters, added tokens, unassigned ids) stream identically. */
    @Test
    void incrementalDecodingOfArbitraryIds() {
        SplittableRandom random = new SplittableRandom(SEED + 1);
        int[] interesting = {0, 1, 50254, 50276, 50279, 14931, 228, 224, 325, 241, 860, 3917, 50300};
        for (int trial = 0; trial < 3000; trial++) {
            int[] ids = new int[random.nextInt(12)];
            for (int k = 0; k < ids.length; k++) {
                int r = random.nextInt(10);
                ids[k] = r < 5 ? 100 + random.nextInt(200) : r < 7 ? random.nextInt(50304)
                        : interesting[random.nextInt(interesting.length)];
            }
            for (boolean skip : new boolean[] {false, true}) {
                IncrementalDecoder decoder = tokenizer.newIncrementalDecoder(skip);
                StringBuilder streamed = new StringBuilder();
                for (int id : ids) {
                    streamed.append(decoder.push(id));
                }
                streamed.append(decoder.finish());
                assertThat(streamed.toString()).as("trial %d", trial)
                        .isEqualTo(tokenizer.decode(ids, skip));
            }
        }
    }
}
