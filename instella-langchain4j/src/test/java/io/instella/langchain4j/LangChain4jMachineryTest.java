package io.instella.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import dev.langchain4j.service.UserMessage;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The models driven by LangChain4j itself: {@code AiServices} with an image parameter, chat memory across turns
 * (the golden multi-turn case), {@code TokenStream} streaming, cancellation through the streaming handle, and one
 * model shared by concurrent callers. Every greedy answer must equal {@link InstellaModel#generate}.
 */
class LangChain4jMachineryTest {
    static InstellaModel shared;
    static InstellaChatModel chat;
    static InstellaStreamingChatModel streaming;
    static Path sq336;
    static Path tall;

    interface Describer {
        @UserMessage("Describe this image.")
        String describe(@UserMessage ImageContent image);

        @UserMessage("Describe this image.")
        TokenStream describeStreaming(@UserMessage ImageContent image);
    }

    interface Assistant {
        String ask(String question);
    }

    @BeforeAll
    static void load() {
        shared = InstellaModel.load(Golden.resolve("model"));
        chat = InstellaChatModel.builder().model(shared).temperature(0.0).maxOutputTokens(12).build();
        streaming = InstellaStreamingChatModel.builder().model(shared).temperature(0.0).maxOutputTokens(12).build();
        sq336 = Golden.resolve("images/sq336.png");
        tall = Golden.resolve("images/tall200x900.png");
    }

    @AfterAll
    static void close() {
        if (shared != null) shared.close();
    }

    static String direct(Conversation c) {
        return shared.generate(c, GenerateOptions.greedy().withMaxNewTokens(12).withRepetitionPenalty(1.0)).text();
    }

    static ImageContent base64(Path png) throws IOException {
        return ImageContent.from(Base64.getEncoder().encodeToString(Files.readAllBytes(png)), "image/png");
    }

    @Test
    void aiServiceMethodTakingAnImage() throws IOException {
        Describer describer = AiServices.builder(Describer.class).chatModel(chat).build();
        String expected = direct(Conversation.create().user("Describe this image.", Image.fromPath(sq336)));
        assertThat(describer.describe(base64(sq336))).isEqualTo(expected);
    }

    @Test
    void chatMemoryCarriesTheGoldenMultiTurnConversation() throws IOException {
        JsonCase c = JsonCase.read("tall200x900_multiturn");
        ChatMemory memory = MessageWindowChatMemory.withMaxMessages(20);
        // The reference's first turn, with its scripted answer, as earlier turns held in memory.
        memory.add(dev.langchain4j.data.message.UserMessage.from(base64(tall), TextContent.from(c.question(0))));
        memory.add(AiMessage.from(c.answer(0)));
        Assistant assistant = AiServices.builder(Assistant.class).chatModel(chat).chatMemory(memory).build();

        // The engine's answers first, on one conversation (each turn reuses the previous prompt).
        Conversation expected = Conversation.create().user(c.question(0), Image.fromPath(tall)).assistant(c.answer(0))
                .user(c.question(1));
        String second = direct(expected);
        expected.assistant(second).user("And the smallest?");
        String third = direct(expected);

        assertThat(assistant.ask(c.question(1))).isEqualTo(second);
        // The memory now holds the model's own answer; a third turn builds on it.
        assertThat(assistant.ask("And the smallest?")).isEqualTo(third);
        assertThat(memory.messages()).hasSize(6);
    }

    @Test
    void streamingModelStreamsTheGreedyAnswer() throws Exception {
        String expected = direct(Conversation.create().user("Describe this image.", Image.fromPath(sq336)));
        StringBuilder pieces = new StringBuilder();
        AtomicReference<String> thread = new AtomicReference<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat(ChatRequest.builder().messages(dev.langchain4j.data.message.UserMessage.from(
                base64(sq336), TextContent.from("Describe this image."))).build(), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                pieces.append(partial);
                thread.set(Thread.currentThread().getName());
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertThat(r.aiMessage().text()).isEqualTo(expected).isEqualTo(pieces.toString());
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(12);
        assertThat(thread.get()).as("answers are computed off the caller's thread").isEqualTo("instella-langchain4j-stream");
    }

    @Test
    void aiServiceTokenStream() throws Exception {
        Describer describer = AiServices.builder(Describer.class).streamingChatModel(streaming).build();
        String expected = direct(Conversation.create().user("Describe this image.", Image.fromPath(sq336)));
        List<String> pieces = new ArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        describer.describeStreaming(base64(sq336))
                .onPartialResponse(pieces::add)
                .onCompleteResponse(done::complete)
                .onError(done::completeExceptionally)
                .start();
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertThat(r.aiMessage().text()).isEqualTo(expected).isEqualTo(String.join("", pieces));
        assertThat(pieces).hasSizeGreaterThan(1);
    }

    @Test
    void cancellingThroughTheStreamingHandleStopsTheEngine() throws Exception {
        CountDownLatch taskEnded = new CountDownLatch(1);
        InstellaStreamingChatModel model = InstellaStreamingChatModel.builder().model(shared).temperature(0.0)
                .maxOutputTokens(1000).executor(task -> Thread.ofPlatform().start(() -> {
                    try {
                        task.run();
                    } finally {
                        taskEnded.countDown();
                    }
                })).build();
        AtomicReference<Response> engineAnswer = new AtomicReference<>();
        model.finished = engineAnswer::set;
        AtomicInteger partials = new AtomicInteger();
        AtomicInteger completions = new AtomicInteger();
        AtomicInteger errors = new AtomicInteger();
        model.chat(ChatRequest.builder().messages(dev.langchain4j.data.message.UserMessage.from("Tell me everything.")).build(),
                new StreamingChatResponseHandler() {
                    @Override
                    public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                        if (partials.incrementAndGet() == 3) context.streamingHandle().cancel();
                        assertThat(context.streamingHandle().isCancelled()).isEqualTo(partials.get() >= 3);
                    }

                    @Override
                    public void onCompleteResponse(ChatResponse response) {
                        completions.incrementAndGet();
                    }

                    @Override
                    public void onError(Throwable error) {
                        errors.incrementAndGet();
                    }
                });
        assertThat(taskEnded.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(partials.get()).as("no pieces after cancel()").isEqualTo(3);
        assertThat(completions.get() + errors.get()).as("no further callbacks after cancel()").isZero();
        assertThat(engineAnswer.get().finishReason()).isEqualTo(io.instella.api.FinishReason.CANCELLED);
        assertThat(engineAnswer.get().tokenIds().length).as("the engine stopped, not just the callbacks").isLessThan(10);
    }

    @Test
    void streamingErrorsGoToOnError() throws Exception {
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat(ChatRequest.builder().messages(dev.langchain4j.data.message.UserMessage.from("Hi"))
                .parameters(ChatRequestParameters.builder().presencePenalty(1.0).build()).build(), new StreamingChatResponseHandler() {
            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        assertThat(done).failsWithin(60, TimeUnit.SECONDS).withThrowableThat()
                .havingCause().isInstanceOf(UnsupportedFeatureException.class).withMessageContaining("presencePenalty");
    }

    @Test
    void oneModelServesConcurrentCallersOneAtATime() throws Exception {
        String[] questions = {"What is red?", "What is blue?", "Name a shape.", "Count to three."};
        String[] expected = new String[questions.length];
        for (int i = 0; i < questions.length; i++) expected[i] = direct(Conversation.create().user(questions[i]));
        ExecutorService pool = Executors.newFixedThreadPool(questions.length);
        try {
            List<Future<String>> answers = new ArrayList<>();
            for (String q : questions) answers.add(pool.submit(() -> chat.chat(q)));
            for (int i = 0; i < questions.length; i++) assertThat(answers.get(i).get(60, TimeUnit.SECONDS)).isEqualTo(expected[i]);
        } finally {
            pool.shutdownNow();
        }
    }

    /** A golden case's turns: questions and scripted answers. */
    record JsonCase(com.fasterxml.jackson.databind.JsonNode turns) {
        static JsonCase read(String name) throws IOException {
            return new JsonCase(new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(Golden.resolve("cases/" + name + "/case.json").toFile()).get("turns"));
        }

        String question(int turn) {
            return turns.get(turn).get(0).asText();
        }

        String answer(int turn) {
            return turns.get(turn).get(1).asText();
        }
    }
}
