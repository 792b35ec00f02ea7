package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The GPT-2 regex scanner and the byte-to-character table. */
class ByteLevelTest {
    private static List<String> split(String s) {
        List<String> out = new ArrayList<>();
        ByteLevel.splitGpt2(s, (start, end) -> out.add(s.substring(start, end)));
        return out;
    }

    @Test
    void contractionsAreCaseSensitiveAndTakenBeforeOtherRuns() {
        assertThat(split("don't we're I'll he'd she's you've I'm")).containsExactly("don", "'t", " we", "'re",
                " I", "'ll", " he", "'d", " she", "'s", " you", "'ve", " I", "'m");
        assertThat(split("IT'S")).containsExactly("IT", "'", "S");
        assertThat(split("''s")).containsExactly("''", "s");
        assertThat(split(" 's")).containsExactly(" '", "s");
    }

    @Test
    void aSingleAsciiSpaceJoinsTheFollowingRun() {
        assertThat(split("Hello world 42 !? x")).containsExactly("Hello", " world", " 42", " !?", " x");
        assertThat(split("a\u00a0b")).as("NBSP is \\s but not the optional space").containsExactly("a", "\u00a0",
                "b");
        assertThat(split("x1a")).containsExactly("x", "1", "a");
        assertThat(split("½²٣")).as("No and Nd are \\p{N}").containsExactly("½²٣");
    }

    @Test
    void whitespaceRunsGiveBackTheirLastCharacterToTheNextWord() {
        assertThat(split("a   b")).containsExactly("a", "  ", " b");
        assertThat(split("a\t\tb")).containsExactly("a", "\t", "\t", "b");
        assertThat(split("a \n\n b")).containsExactly("a", " \n\n", " b");
        assertThat(split("a\n\n\nb")).containsExactly("a", "\n\n", "\n", "b");
        assertThat(split("end  ")).containsExactly("end", "  ");
        assertThat(split("   ")).containsExactly("   ");
        assertThat(split(" ")).containsExactly(" ");
        assertThat(split("\r\n")).containsExactly("\r\n");
        assertThat(split("x\r\ny")).containsExactly("x", "\r", "\n", "y");
    }

    @Test
    void supplementaryCharactersAreClassifiedAsWholeCodePoints() {
        assertThat(split("𝐀𝐁 𝟙𝟚 😀😀")).containsExactly("𝐀𝐁", " 𝟙𝟚", " 😀😀");
        assertThat(split("a😀b")).containsExactly("a", "😀", "b");
    }

    @Test
    void piecesCoverTheInput() {
        String s = "It's  \t a test—of 123 things!!\n\n  ok  ";
        assertThat(String.join("", split(s))).isEqualTo(s);
    }

    @Test
    void byteTableIsAReversibleMapOntoPrintableCharacters() {
        Set<Character> seen = new HashSet<>();
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.byteToChar(b);
            assertThat(seen.add(c)).as("byte %d", b).isTrue();
            assertThat(ByteLevel.charToByte(c)).isEqualTo(b);
            assertThat(Character.isWhitespace(c) || Character.isISOControl(c)).as("byte %d", b).isFalse();
        }
        assertThat(ByteLevel.byteToChar(' ')).isEqualTo('Ġ');
        assertThat(ByteLevel.byteToChar('\n')).isEqualTo('Ċ');
        assertThat(ByteLevel.byteToChar('A')).isEqualTo('A');
        assertThat(ByteLevel.charToByte('€')).isEqualTo(-1);
    }

    @Test
    void tokensWithCharactersOutsideTheByteAlphabetDecodeAsTheirOwnText() {
        assertThat(ByteLevel.decodeToken("Ġworld")).isEqualTo(" world".getBytes());
        assertThat(ByteLevel.decodeToken("  ")).isEqualTo("  ".getBytes());
        assertThat(ByteLevel.decodeToken("<|endoftext|>")).isEqualTo("<|endoftext|>".getBytes());
    }
}
