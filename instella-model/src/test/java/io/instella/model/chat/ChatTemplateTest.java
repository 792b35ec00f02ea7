package io.instella.model.chat;

import io.instella.model.testing.GoldenCase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ChatTemplateTest {

    @Test
    void singleTurnWithImage() {
        assertThat(ChatTemplate.single("Describe this image.", 1))
                .isEqualTo("|||IP_ADDRESS|||<|user|>\n<image>\nDescribe this image.\n<|assistant|>\n");
    }

    @Test
    void multiTurnStripsAssistantTurnsOnly() {
        String p = ChatTemplate.render(List.of(
                ChatMessage.user("Q1 ", 1), ChatMessage.assistant("  A1\n"), ChatMessage.user(" Q2")), true);
        assertThat(p).isEqualTo("|||IP_ADDRESS|||<|user|>\n<image>\nQ1\n<|assistant|>\nA1|||IP_ADDRESS|||\n<|user|>\n Q2\n<|assistant|>\n");
    }

    @Test
    void trainingStringWithoutGenerationPrompt() {
        String p = ChatTemplate.render(List.of(ChatMessage.user("Q1", 1), ChatMessage.assistant("A1"),
                ChatMessage.user("Q2"), ChatMessage.assistant("A2")), false);
        assertThat(p).isEqualTo("|||IP_ADDRESS|||<|user|>\n<image>\nQ1\n<|assistant|>\nA1|||IP_ADDRESS|||\n<|user|>\nQ2\n<|assistant|>\nA2|||IP_ADDRESS|||\n");
    }

    @Test
    void placeholdersKeptWhereTheUserPutThem() {
        assertThat(ChatTemplate.single("Compare <image> and <image>", 2))
                .isEqualTo("|||IP_ADDRESS|||<|user|>\nCompare <image> and <image>\n<|assistant|>\n");
        assertThat(ChatTemplate.single("Compare these", 2))
                .isEqualTo("|||IP_ADDRESS|||<|user|>\n<image> <image>\nCompare these\n<|assistant|>\n");
        assertThatThrownBy(() -> ChatTemplate.single("one <image>", 2)).hasMessageContaining("placeholder");
    }

    @Test
    void systemMessageFoldsIntoFirstUserTurn() {
        assertThat(ChatTemplate.render(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi")), true))
                .isEqualTo("|||IP_ADDRESS|||<|user|>\nBe brief.\n\nHi\n<|assistant|>\n");
    }

    @Test
    void badConversations() {
        assertThatThrownBy(() -> ChatTemplate.render(List.of(ChatMessage.assistant("x")), true)).hasMessageContaining("start with a user");
        assertThatThrownBy(() -> ChatTemplate.render(List.of(ChatMessage.user("a"), ChatMessage.user("b")), true)).hasMessageContaining("alternate");
        assertThatThrownBy(() -> ChatTemplate.render(List.of(), true)).hasMessageContaining("no user message");
        assertThatThrownBy(() -> ChatMessage.Role.parse("tool")).hasMessageContaining("unknown role");
    }

    static List<GoldenCase> cases() { return GoldenCase.all(); }

    @ParameterizedTest
    @MethodSource("cases")
    void goldenPrompts(GoldenCase c) {
        List<ChatMessage> msgs = new ArrayList<>();
        var turns = c.json().get("turns");
        for (int i = 0; i < turns.size(); i++) {
            msgs.add(ChatMessage.user(turns.get(i).get(0).asText(), i == 0 && c.image() != null ? 1 : 0));
            if (!turns.get(i).get(1).isNull()) msgs.add(ChatMessage.assistant(turns.get(i).get(1).asText()));
        }
        assertThat(ChatTemplate.render(msgs, true)).isEqualTo(c.json().get("prompt").asText());
    }
}
