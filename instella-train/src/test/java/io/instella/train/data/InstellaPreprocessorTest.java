package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import io.instella.core.testing.Golden;
import io.instella.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

class InstellaPreprocessorTest {

    static LlavaRecord.Message human(String v) { return new LlavaRecord.Message("human", v); }

    static LlavaRecord.Message gpt(String v) { return new LlavaRecord.Message("gpt", v); }

    @Test
    void singleImagePlaceholderMovesToTheFront() {
        var out = InstellaPreprocessor.preprocessMultimodal(List.of(human("  What is this?\n<image>  "), gpt("x <image>"),
                human("<image> first"), human("<image> and <image>"), human("QA_GT_caption_based_noisyHi")));
        assertThat(out).extracting(LlavaRecord.Message::value).containsExactly("<image>\nWhat is this?",
                "<image>\nx", "<image> first", "<image> and <image>", "Hi");
    }

    @Test
    void conversationStringFollowsTheInstellaTemplate() throws Exception {
        String s = InstellaPreprocessor.conversation(List.of(gpt("dropped"), human("Q1 "), gpt("  A1\n"), human("Q2"),
                gpt("")));
        assertThat(s).isEqualTo("|||IP_ADDRESS|||<|user|>\nQ1 \n<|assistant|>\nA1|||IP_ADDRESS|||\n<|user|>\nQ2\n"
                + "<|assistant|>\n");
    }

    @Test
    void badConversationsAreRefusedWithAReason() {
        assertThatThrownBy(() -> InstellaPreprocessor.conversation(List.of()))
                .hasMessageContaining("empty");
        assertThatThrownBy(() -> InstellaPreprocessor.conversation(List.of(human("a"), new LlavaRecord.Message("system", "b"))))
                .isInstanceOfSatisfying(InstellaPreprocessor.ConversationException.class,
                        e -> assertThat(e.reason()).isEqualTo(DataReport.Reason.BAD_ROLE))
                .hasMessageContaining("'system'");
        assertThatThrownBy(() -> InstellaPreprocessor.conversation(List.of(human("a"), human("b"))))
                .hasMessageContaining("roles must alternate");
        assertThatThrownBy(() -> InstellaPreprocessor.conversation(List.of(gpt("only"))))
                .isInstanceOfSatisfying(InstellaPreprocessor.ConversationException.class,
                        e -> assertThat(e.reason()).isEqualTo(DataReport.Reason.EMPTY_CONVERSATION));
    }

    @Test
    void pythonStripAndSplitSemantics() {
        assertThat(InstellaPreprocessor.pythonStrip("\u00a0\u2003 x \u001f\n")).isEqualTo("x"); // NBSP, em space, US
        assertThat(InstellaPreprocessor.pythonStrip("\u200bx")).isEqualTo("\u200bx"); // zero-width space is not space
        assertThat(InstellaPreprocessor.pythonSplit("<image>a<image>", "<image>")).containsExactly("", "a", "");
    }

    @Test
    void labelsOfTheSpecWorkedExampleAndTheTokenizationMismatchRule() {
        Tokenizer tok = Tokenizer.load(Golden.resolve("model/tokenizer.json"), 50304);
        InstellaPreprocessor p = new InstellaPreprocessor(tok, 1);
        String s = "|||IP_ADDRESS|||<|user|>\n<image>\nWhat is this?\n<|assistant|>\nA dog.|||IP_ADDRESS|||\n"
                + "<|user|>\nWhat color?\n<|assistant|>\nBrown.|||IP_ADDRESS|||\n";
        int[] ids = p.tokenizeWithImages(s);
        assertThat(ids).hasSize(43);
        int[] labels = p.labels(s, ids, true, 32768);
        assertThat(java.util.Arrays.stream(labels).filter(l -> l != -100).toArray())
                .containsExactly(34, 4370, 15, 50279, 187, 27543, 15, 50279, 187);

        // A pad token inside the text is not counted by upstream's total_len: every label is masked.
        String padded = "|||IP_ADDRESS|||<|user|>\nHi<|padding|>\n<|assistant|>\nYes.|||IP_ADDRESS|||\n";
        int[] ids2 = p.tokenize(padded, false);
        assertThat(ids2).contains(1);
        assertThat(p.labels(padded, ids2, false, 32768)).containsOnly(-100);
        // ... unless the counted length reaches model_max_length (upstream checks only below it).
        assertThat(p.labels(padded, ids2, false, 4)).contains(50279);
    }
}
