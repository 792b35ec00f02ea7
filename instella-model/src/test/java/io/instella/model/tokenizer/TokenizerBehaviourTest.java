package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Specific behaviours of the OLMo tokenizer, derived from the HF rules rather than recorded output. */
class TokenizerBehaviourTest {
    private final Tokenizer tokenizer = OlmoTokenizer.get();

    private int id(String token) {
        return tokenizer.tokenId(token).orElseThrow();
    }

    /** The added whitespace tokens: k spaces (2 <= k <= 24) is id 50254 + 24 - k; longer runs split greedily. */
    @Test
    void spaceRunsAreSplitLeftmostLongest() {
        for (int k = 2; k <= 24; k++) {
            assertThat(tokenizer.tokenId(" ".repeat(k))).hasValue(50254 + 24 - k);
        }
        assertThat(tokenizer.encode("a" + " ".repeat(30) + "b")).containsExactly(id("a"), 50254, 50254 + 24 - 6,
                id("b"));
        // 25 spaces: 24 go to the added token, the last one joins the word as in GPT-2 ("Ġb").
        assertThat(tokenizer.encode(" ".repeat(25) + "b")).containsExactly(50254, id("Ġb"));
        assertThat(tokenizer.encode(" ".repeat(48))).containsExactly(50254, 50254);
    }

    @Test
    void unpairedSurrogatesAreEncodedAsReplacementCharacters() {
        assertThat(tokenizer.encode("a\uD800b")).containsExactly(tokenizer.encode("a\uFFFDb"));
        assertThat(tokenizer.encode("x\uDC00")).containsExactly(tokenizer.encode("x\uFFFD"));
        assertThat(tokenizer.encode("\uDE00\uD83D")).containsExactly(tokenizer.encode("\uFFFD\uFFFD"));
        assertThat(tokenizer.decode(tokenizer.encode("a\uD800b"))).isEqualTo("a\uFFFDb");
        // A proper pair is kept.
        assertThat(tokenizer.decode(tokenizer.encode("\uD83D\uDE00"))).isEqualTo("😀");
    }

    @Test
    void decodeLeavesOutUnassignedIdsAndRefusesNegativeOnes() {
        int[] hello = tokenizer.encode("Hello");
        int[] withPaddingRows = IntStream.concat(IntStream.of(50280, 50303), IntStream.of(hello)).toArray();
        assertThat(tokenizer.decode(withPaddingRows)).isEqualTo("Hello");
        assertThatThrownBy(() -> tokenizer.decode(new int[] {29, -200, 30}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-200")
                .hasMessageContaining("position 1");
        assertThatThrownBy(() -> tokenizer.tokenString(50280)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("50280");
        assertThat(tokenizer.isSpecial(50280)).isFalse();
        assertThat(tokenizer.isSpecial(-1)).isFalse();
    }

    @Test
    void byteTokensThatCutACharacterDecodeLossily() {
        // 🙂 is F0 9F 99 82, byte-level "ðŁĻĤ"; the single-byte tokens cut it.
        int f0 = id("ð"); // byte F0
        int x9f = id("Ł"); // byte 9F
        assertThat(tokenizer.decode(new int[] {f0, x9f})).isEqualTo("\uFFFD");
        assertThat(tokenizer.decode(new int[] {f0, id("a")})).isEqualTo("\uFFFDa");
        assertThat(tokenizer.decode(new int[] {f0, x9f, 0, id("a")})).isEqualTo("\uFFFD<|endoftext|>a");
        // With the special token skipped, the byte after it continues the sequence (all bytes are joined first).
        int[] bytesOfSmile = {f0, x9f, id("Ļ"), id("Ĥ")};
        assertThat(tokenizer.decode(bytesOfSmile)).isEqualTo("🙂");
        assertThat(tokenizer.decode(new int[] {f0, x9f, 0, id("Ļ"), id("Ĥ")}, true)).isEqualTo("🙂");
        assertThat(tokenizer.decode(new int[] {f0, x9f, 0, id("Ļ"), id("Ĥ")}, false))
                .isEqualTo("\uFFFD<|endoftext|>\uFFFD\uFFFD");
    }

    @Test
    void incrementalDecoderHoldsBackAnIncompleteCharacter() {
        int f0 = id("ð");
        int x9f = id("Ł");
        IncrementalDecoder decoder = tokenizer.newIncrementalDecoder();
        assertThat(decoder.push(id("Hi"))).isEqualTo("Hi");
        assertThat(decoder.push(f0)).isEmpty();
        assertThat(decoder.hasPendingBytes()).isTrue();
        assertThat(decoder.push(x9f)).isEmpty();
        assertThat(decoder.push(id("Ļ"))).isEmpty();
        assertThat(decoder.push(id("Ĥ"))).isEqualTo("🙂");
        assertThat(decoder.hasPendingBytes()).isFalse();
        assertThat(decoder.push(f0, x9f)).isEmpty();
        assertThat(decoder.push(id("!"))).isEqualTo("\uFFFD!");
        assertThat(decoder.push(f0)).isEmpty();
        assertThat(decoder.finish()).isEqualTo("\uFFFD");
        assertThat(decoder.finish()).isEmpty();
    }

    @Test
    void incrementalDecoderSkipsSpecialTokensWhenAsked() {
        int[] ids = tokenizer.encode("a<|endoftext|>b<|padding|>|||IP_ADDRESS|||");
        IncrementalDecoder keep = tokenizer.newIncrementalDecoder();
        IncrementalDecoder skip = tokenizer.newIncrementalDecoder(true);
        StringBuilder kept = new StringBuilder();
        StringBuilder skipped = new StringBuilder();
        for (int id : ids) {
            kept.append(keep.push(id));
            skipped.append(skip.push(id));
        }
        assertThat(kept.toString()).isEqualTo("a<|endoftext|>b<|padding|>|||IP_ADDRESS|||");
        assertThat(skipped.toString()).isEqualTo("ab|||IP_ADDRESS|||");
    }

    @Test
    void specialTokensAreMatchedBeforeNormalisation() {
        // ">" + U+0338 composes to U+226F under NFC, but "<|endoftext|>" is split out of the raw text first.
        assertThat(tokenizer.encode("<|endoftext|>\u0338")).startsWith(0);
        assertThat(tokenizer.decode(tokenizer.encode("<|endoftext|>\u0338"))).isEqualTo("<|endoftext|>\u0338");
        assertThat(tokenizer.decode(tokenizer.encode("a>\u0338"))).isEqualTo("a\u226F");
        // Decomposed input matching a normalised added token after NFC: "|||IP_ADDRESS|||" is plain ASCII, so
        // check NFC on a neighbouring piece instead.
        assertThat(tokenizer.encode("e\u0301|||IP_ADDRESS|||")).containsExactly(
                IntStream.concat(IntStream.of(tokenizer.encode("é")), IntStream.of(50279)).toArray());
    }

    @Test
    void emptyAndNull() {
        assertThat(tokenizer.encode("")).isEmpty();
        assertThat(tokenizer.decode(new int[0])).isEmpty();
        assertThatThrownBy(() -> tokenizer.encode(null)).isInstanceOf(NullPointerException.class);
    }
}
