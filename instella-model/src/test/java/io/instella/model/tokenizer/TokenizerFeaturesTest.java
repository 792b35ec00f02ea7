package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.json features the OLMo file does not use, on small synthetic byte-level BPE tokenizers (ids 0..255
 * are the byte-level characters; "Ġ" is the space byte). The expectations follow HF's rules and were also
 * checked against HF tokenizers 0.23.2 during development.
 */
class TokenizerFeaturesTest {
    @TempDir
    Path dir;

    private static int[] ids(SyntheticTokenizerJson json, String... tokens) {
        int[] out = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            out[i] = json.id(tokens[i]);
        }
        return out;
    }

    @Test
    void lstripRstripAndSingleWordAddedTokens() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson()
                .added("[L]", false, true, false, false, false)
                .added("[R]", false, false, true, false, false)
                .added("[W]", true, false, false, false, false)
                .added("[N]", false, false, false, false, false);
        Tokenizer t = json.load(dir, "strip.json");
        int l = t.tokenId("[L]").getAsInt();
        int r = t.tokenId("[R]").getAsInt();
        int w = t.tokenId("[W]").getAsInt();
        int n = t.tokenId("[N]").getAsInt();
        int a = json.id("a");
        int b = json.id("b");
        int space = json.id("Ġ");
        assertThat(t.encode("a [L]b")).containsExactly(a, l, b);
        assertThat(t.encode("a[L] b")).containsExactly(a, l, space, b);
        assertThat(t.encode("a [R]  b")).containsExactly(a, space, r, b);
        assertThat(t.encode("a[W]b")).as("not a single word: left as text").containsExactly(a, json.id("["),
                json.id("W"), json.id("]"), b);
        assertThat(t.encode("a [W] b")).containsExactly(a, space, w, space, b);
        assertThat(t.encode("[W]")).containsExactly(w);
        assertThat(t.encode("a [N] b")).containsExactly(a, space, n, space, b);
        assertThat(t.encode("  [L]  [R]  ")).containsExactly(l, space, space, r);
        // lstrip takes any White_Space, not only ASCII spaces; U+3000 after [L] stays text.
        assertThat(t.encode("a\u00a0[L]\u3000b")).containsExactly(a, l, json.id("ã"), json.id("Ģ"), json.id("Ģ"),
                b);
        // lstrip does not reach into the previous match.
        assertThat(t.encode("x [R][L] y")).containsExactly(json.id("x"), space, r, l, space, json.id("y"));
        // Decoding gives the added tokens' text, without the whitespace they absorbed.
        assertThat(t.decode(t.encode("a [R]  b"))).isEqualTo("a [R]b");
    }

    @Test
    void ignoreMergesTakesWholeWordsFromTheVocab() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson().token("xyz", "xy").merge("x y");
        Tokenizer plain = json.load(dir, "plain.json");
        assertThat(plain.encode("xyz")).containsExactly(json.id("xy"), json.id("z"));
        json.model.put("ignore_merges", true);
        Tokenizer ignoring = json.load(dir, "ignore.json");
        assertThat(ignoring.encode("xyz")).containsExactly(json.id("xyz"));
        assertThat(ignoring.encode("xyzxyz")).containsExactly(ids(json, "xy", "z", "xy", "z"));
    }

    @Test
    void continuingSubwordPrefixAndEndOfWordSuffix() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson()
                .token("##b", "##c</w>", "ab", "abc</w>", "##d", "##d</w>")
                .merge("a ##b", "ab ##c</w>");
        json.model.put("continuing_subword_prefix", "##");
        json.model.put("end_of_word_suffix", "</w>");
        Tokenizer t = json.load(dir, "prefix.json");
        assertThat(t.encode("abc")).containsExactly(json.id("abc</w>"));
        assertThat(t.encode("abd")).containsExactly(json.id("ab"), json.id("##d</w>"));
        assertThat(t.encode("dd")).containsExactly(json.id("d"), json.id("##d</w>"));
        // Symbols missing from the vocab ("a</w>", "##b</w>") are dropped when there is no unk token.
        assertThat(t.encode("a")).isEmpty();
        assertThat(t.encode("ab")).containsExactly(json.id("a"));
    }

    @Test
    void byteFallbackUsesTheBytesOfTheMissingSymbol() {
        // "é" is C3 A9, byte-level "Ã©"; "Ã" (U+00C3, UTF-8 C3 83) is missing, so it falls back to <0xC3> <0x83>.
        SyntheticTokenizerJson json = new SyntheticTokenizerJson(Set.of('Ã')).token("<0xC3>", "<0x83>");
        json.model.put("byte_fallback", true);
        Tokenizer t = json.load(dir, "fallback.json");
        assertThat(t.encode("aé")).containsExactly(ids(json, "a", "<0xC3>", "<0x83>", "©"));
    }

    @Test
    void unknownTokenFusedOrNot() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson(Set.of('Ã', '©')).token("<unk>");
        json.model.put("unk_token", "<unk>");
        json.model.put("fuse_unk", true);
        Tokenizer fused = json.load(dir, "fused.json");
        int unk = json.id("<unk>");
        assertThat(fused.encode("aéb")).containsExactly(json.id("a"), unk, json.id("b"));
        assertThat(fused.encode("éé")).containsExactly(unk);
        assertThat(fused.encode("é é")).containsExactly(unk, json.id("Ġ"), unk);
        json.model.put("fuse_unk", false);
        Tokenizer separate = json.load(dir, "separate.json");
        assertThat(separate.encode("aéb")).containsExactly(json.id("a"), unk, unk, json.id("b"));
        json.model.putNull("unk_token");
        Tokenizer dropping = json.load(dir, "dropping.json");
        assertThat(dropping.encode("aéb")).containsExactly(json.id("a"), json.id("b"));
    }

    @Test
    void addPrefixSpaceAndNoRegex() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson().token("Ġb").merge("Ġ b");
        json.root.set("pre_tokenizer", SyntheticTokenizerJson.byteLevel(true, true));
        Tokenizer prefixed = json.load(dir, "prefixed.json");
        assertThat(prefixed.encode("a b")).containsExactly(ids(json, "Ġ", "a", "Ġb"));
        assertThat(prefixed.encode(" a")).containsExactly(ids(json, "Ġ", "a"));
        json.root.set("pre_tokenizer", SyntheticTokenizerJson.byteLevel(false, false));
        Tokenizer whole = json.load(dir, "noregex.json");
        // Without the regex the whole text is one word: "a", "Ġb" (merged across what GPT-2 would split), ...
        assertThat(whole.encode("a  b\n")).containsExactly(ids(json, "a", "Ġ", "Ġb", "Ċ"));
    }

    @Test
    void mergesAsPairsAndLaterDuplicatesWin() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson().token("xy", "yx");
        json.merges.addArray().add("x").add("y");
        json.merges.addArray().add("y").add("x");
        Tokenizer t = json.load(dir, "pairs.json");
        assertThat(t.encode("xyx")).containsExactly(json.id("xy"), json.id("x"));
        // A repeated merge takes the rank of its last occurrence (HF builds a map), now after "y x".
        json.merges.addArray().add("x").add("y");
        Tokenizer duplicate = json.load(dir, "duplicate.json");
        assertThat(duplicate.encode("xyx")).containsExactly(json.id("x"), json.id("yx"));
    }

    @Test
    void normalizedAddedTokensMatchAfterNfcAndSpecialFlagDrivesSkipping() {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson()
                .added("é!", false, false, false, true, false)
                .added("e\u0301?", false, false, false, true, false)
                .added("<s>", false, false, false, false, true);
        Tokenizer t = json.load(dir, "normalized.json");
        int accented = t.tokenId("é!").getAsInt();
        int s = t.tokenId("<s>").getAsInt();
        assertThat(t.encode("xe\u0301!")).containsExactly(json.id("x"), accented);
        assertThat(t.isSpecial(s)).isTrue();
        assertThat(t.isSpecial(accented)).isFalse();
        // HF quirk kept: every character of "é!" is in the byte alphabet ('é' stands for byte E9), so the
        // byte-level decoder turns the added token into the bytes E9 21, which is not UTF-8.
        assertThat(t.decode(new int[] {s, accented, s}, true)).isEqualTo("\uFFFD!");
        // A decomposed normalised token is matched, and decoded, in its NFC form.
        int question = t.tokenId("e\u0301?").getAsInt();
        assertThat(t.encode("é?")).containsExactly(question);
        assertThat(t.tokenString(question)).isEqualTo("é?");
        assertThat(t.decode(new int[] {question})).isEqualTo("\uFFFD?");
        assertThat(t.vocabSize()).isEqualTo(259);
    }
}
