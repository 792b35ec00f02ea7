package io.instella.langchain4j;

import com.sun.net.httpserver.HttpServer;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.AudioContent;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import io.instella.api.Conversation;
import io.instella.api.GenerateOptions;
import io.instella.api.Image;
import io.instella.api.InstellaModel;
import io.instella.api.Response;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link InstellaChatModel} on the golden tiny checkpoint: greedy answers equal {@link InstellaModel#generate} on
 * the same conversation (which the model module checks against the upstream reference), whatever way the image
 * travels; unsupported requests are refused with messages that say what to change.
 */
class InstellaChatModelTest {
    static final String QUESTION = "Describe this image.";
    static InstellaModel shared;
    static ChatModel chat;
    static Path png;
    static String base64Png;

    @BeforeAll
    static void load() throws IOException {
        shared = InstellaModel.load(Golden.resolve("model"));
        chat = InstellaChatModel.builder().model(shared).temperature(0.0).maxOutputTokens(12).build();
        png = Golden.resolve("images/sq336.png");
        base64Png = Base64.getEncoder().encodeToString(Files.readAllBytes(png));
    }

    @AfterAll
    static void close() {
        if (shared != null) shared.close();
    }

    /** What the engine answers, greedy, 12 tokens: {@code instella generate --temperature 0 --max-new-tokens 12}. */
    static Response direct(Conversation c) {
        return shared.generate(c, GenerateOptions.greedy().withMaxNewTokens(12).withRepetitionPenalty(1.0));
    }

    @Test
    void contractGreedyAnswerEqualsTheEngine() throws IOException {
        String expected = direct(Conversation.create().user(QUESTION, Image.fromPath(png))).text();
        assertThat(expected).isNotBlank();
        // Exactly the contract: a model of its own, loaded from the directory.
        try (InstellaChatModel m = InstellaChatModel.builder()
                .modelPath(Golden.resolve("model")).temperature(0.0).maxOutputTokens(12).build()) {
            ChatResponse r = m.chat(ChatRequest.builder().messages(UserMessage.from(
                    ImageContent.from(base64Png, "image/png"), TextContent.from(QUESTION))).build());
            assertThat(r.aiMessage().text()).isEqualTo(expected);
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(12);
            int sequenceLength = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(Golden.resolve("cases/sq336_describe/case.json").toFile()).get("sequence_length_after_merge").asInt();
            assertThat(r.tokenUsage().inputTokenCount()).as("prompt positions, image tokens included").isEqualTo(sequenceLength);
            assertThat(r.tokenUsage().totalTokenCount()).isEqualTo(sequenceLength + 12);
        }
    }

    @Test
    void textAfterOrBeforeTheImageGivesTheSameAnswer() {
        ChatResponse imageFirst = chat.chat(UserMessage.from(ImageContent.from(base64Png, "image/png"), TextContent.from(QUESTION)));
        ChatResponse textFirst = chat.chat(UserMessage.from(TextContent.from(QUESTION), ImageContent.from(base64Png, "image/png")));
        assertThat(textFirst.aiMessage().text()).isEqualTo(imageFirst.aiMessage().text());
    }

    @Test
    void imagesFromFileUrlsPathsAndDataUrlsEqualBase64() {
        String expected = chat.chat(UserMessage.from(ImageContent.from(base64Png, "image/png"), TextContent.from(QUESTION)))
                .aiMessage().text();
        for (ImageContent image : new ImageContent[]{
                ImageContent.from(png.toUri()),
                ImageContent.from(png.toString()),
                ImageContent.from("data:image/png;base64," + base64Png)}) {
            assertThat(chat.chat(UserMessage.from(image, TextContent.from(QUESTION))).aiMessage().text())
                    .as(image.image().url().toString().substring(0, 20)).isEqualTo(expected);
        }
    }

    @Test
    void httpImagesOnlyFromAllowedHosts() throws IOException {
        byte[] bytes = Files.readAllBytes(png);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/sq336.png", exchange -> {
            exchange.getResponseHeaders().add("Content-Type", "image/png");
            exchange.sendResponseHeaders(200, bytes.length);
            try (var out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/sq336.png";
            UserMessage question = UserMessage.from(ImageContent.from(url), TextContent.from(QUESTION));

            assertThatThrownBy(() -> chat.chat(question))
                    .isInstanceOf(InvalidRequestException.class)
                    .hasMessageContaining("messages[0] image 1")
                    .hasMessageContaining("allowedImageHosts");

            ChatModel otherHost = InstellaChatModel.builder().model(shared).temperature(0.0).maxOutputTokens(12)
                    .allowedImageHosts("images.example.com").build();
            assertThatThrownBy(() -> otherHost.chat(question))
                    .isInstanceOf(InvalidRequestException.class)
                    .hasMessageContaining("host '127.0.0.1' is not among the allowed image hosts");

            ChatModel allowed = InstellaChatModel.builder().model(shared).temperature(0.0).maxOutputTokens(12)
                    .allowedImageHosts("127.0.0.1").build();
            String expected = chat.chat(UserMessage.from(ImageContent.from(base64Png, "image/png"), TextContent.from(QUESTION)))
                    .aiMessage().text();
            assertThat(allowed.chat(question).aiMessage().text()).isEqualTo(expected);

            ChatModel tiny = InstellaChatModel.builder().model(shared).allowedImageHosts("127.0.0.1").maxImageBytes(100).build();
            assertThatThrownBy(() -> tiny.chat(question)).isInstanceOf(InvalidRequestException.class)
                    .hasMessageContaining("larger than the limit of 100 bytes");
        } finally {
            server.stop(0);
        }
    }

    @Test
    void multiTurnWithSystemTextEqualsTheEngine() {
        Image image = Image.fromPath(png);
        Conversation c = Conversation.create().system("You are terse.").user("How many shapes?", image)
                .assistant("Three.").user("Which is largest?");
        String expected = direct(c).text();
        ChatResponse r = chat.chat(
                SystemMessage.from("You are terse."),
                UserMessage.from(ImageContent.from(base64Png, "image/png"), TextContent.from("How many shapes?")),
                AiMessage.from("Three."),
                UserMessage.from("Which is largest?"));
        assertThat(r.aiMessage().text()).isEqualTo(expected);
    }

    @Test
    void requestParametersOverrideTheBuilderAndASeedRepeatsASample() {
        ChatRequest oneToken = ChatRequest.builder().messages(UserMessage.from("Hello"))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(1).build()).build();
        assertThat(chat.chat(oneToken).tokenUsage().outputTokenCount()).isEqualTo(1);

        ChatRequest sampled = ChatRequest.builder().messages(UserMessage.from("Tell me a story."))
                .parameters(InstellaChatRequestParameters.builder().temperature(1.0).topK(40).seed(7L).maxOutputTokens(8).build())
                .build();
        String first = chat.chat(sampled).aiMessage().text();
        assertThat(chat.chat(sampled).aiMessage().text()).isEqualTo(first);
        Response direct = shared.generate(Conversation.create().user("Tell me a story."),
                GenerateOptions.defaults().withTemperature(1.0).withTopK(40).withSeed(7L).withMaxNewTokens(8).withRepetitionPenalty(1.0));
        assertThat(first).isEqualTo(direct.text());

        ChatModel seeded = InstellaChatModel.builder().model(shared).temperature(1.0).topK(40).seed(7L).maxOutputTokens(8).build();
        assertThat(seeded.chat("Tell me a story.")).isEqualTo(first);
    }

    @Test
    void stopSequencesCutTheAnswer() {
        String full = chat.chat(UserMessage.from(ImageContent.from(base64Png, "image/png"), TextContent.from(QUESTION)))
                .aiMessage().text();
        String stop = full.strip().substring(0, 4);
        ChatResponse r = chat.chat(ChatRequest.builder()
                .messages(UserMessage.from(ImageContent.from(base64Png, "image/png"), TextContent.from(QUESTION)))
                .parameters(ChatRequestParameters.builder().stopSequences(stop).build()).build());
        assertThat(r.aiMessage().text()).isEqualTo(full.substring(0, full.indexOf(stop)));
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void unsupportedParametersAreRefusedByName() {
        UserMessage hello = UserMessage.from("Hello");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(hello).parameters(ChatRequestParameters.builder()
                .toolSpecifications(ToolSpecification.builder().name("weather").build()).build()).build()))
                .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("does not call tools");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(hello).parameters(ChatRequestParameters.builder()
                .responseFormat(ResponseFormat.builder().type(dev.langchain4j.model.chat.request.ResponseFormatType.JSON)
                        .jsonSchema(JsonSchema.builder().name("answer").rootElement(JsonObjectSchema.builder().build()).build())
                        .build()).build()).build()))
                .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("response format JSON with a JSON schema");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(hello)
                .parameters(ChatRequestParameters.builder().frequencyPenalty(0.5).build()).build()))
                .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("frequencyPenalty");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(hello)
                .parameters(ChatRequestParameters.builder().presencePenalty(0.5).build()).build()))
                .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("presencePenalty");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(hello)
                .parameters(ChatRequestParameters.builder().modelName("gpt-4o").build()).build()))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("the request names model 'gpt-4o'");
        assertThatThrownBy(() -> chat.chat(ChatRequest.builder().messages(hello)
                .parameters(ChatRequestParameters.builder().temperature(-1.0).build()).build()))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("temperature must be >= 0");
        assertThatThrownBy(() -> InstellaChatModel.builder().model(shared).topP(2.0).build())
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("topP must be in (0, 1]");
    }

    @Test
    void unsupportedMessagesAreRefusedByPosition() {
        assertThatThrownBy(() -> chat.chat(UserMessage.from(TextContent.from("Listen"),
                AudioContent.from("AAAA", "audio/wav"))))
                .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("messages[0] has audio content");
        assertThatThrownBy(() -> chat.chat(UserMessage.from("Hi"), AiMessage.from("Hello")))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("the last message must be a user message");
        assertThatThrownBy(() -> chat.chat(UserMessage.from("Hi"), AiMessage.from("Hello"), SystemMessage.from("Be brief"),
                UserMessage.from("Again")))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("messages[2] is a system message");
        assertThatThrownBy(() -> chat.chat(AiMessage.from("Hello"), UserMessage.from("Hi")))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("messages[0] is an AI message before any user message");
        assertThatThrownBy(() -> chat.chat(UserMessage.from(ImageContent.from("ftp://example.com/a.png"), TextContent.from("?"))))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("got a 'ftp:' URL");
        assertThatThrownBy(() -> chat.chat(UserMessage.from(ImageContent.from("/no/such/image.png"), TextContent.from("?"))))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("image file /no/such/image.png not found");
        assertThatThrownBy(() -> chat.chat(UserMessage.from(ImageContent.from("bm90IGFuIGltYWdl", "image/png"), TextContent.from("?"))))
                .isInstanceOf(InvalidRequestException.class).hasMessageContaining("messages[0] image 1");
    }

    @Test
    void twoUserMessagesInARowMergeIntoOneTurn() {
        String expected = direct(Conversation.create().user("Hello\nHow are you?")).text();
        assertThat(chat.chat(UserMessage.from("Hello"), UserMessage.from("How are you?")).aiMessage().text()).isEqualTo(expected);
    }
}
