package io.instella.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** The server through the official OpenAI Java client, as an application would call it. */
class OpenAiClientTest {
    static final String KEY = "test-key-123";
    static InstellaServer server;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(TestServers.options().apiKey(KEY).build());
        client = OpenAIOkHttpClient.builder().baseUrl(server.url() + "/v1").apiKey(KEY).maxRetries(0)
                .timeout(Duration.ofSeconds(120)).build();
    }

    @AfterAll
    static void stop() {
        if (client != null) client.close();
        if (server != null) server.close();
    }

    static ChatCompletionCreateParams.Builder chat(String text) {
        return ChatCompletionCreateParams.builder().model("instella-test").addUserMessage(text);
    }

    @Test
    void listsTheModel() {
        List<Model> models = client.models().list().data();
        assertThat(models).extracting(Model::id).containsExactly("instella-test");
    }

    @Test
    void textAndUsage() {
        ChatCompletion c = client.chat().completions().create(chat("What is the capital of France?")
                .maxCompletionTokens(8).temperature(0.0).build());
        assertThat(c.choices()).hasSize(1);
        ChatCompletion.Choice choice = c.choices().getFirst();
        assertThat(choice.message().content()).isPresent();
        assertThat(choice.finishReason()).isIn(ChatCompletion.Choice.FinishReason.LENGTH, ChatCompletion.Choice.FinishReason.STOP);
        var usage = c.usage().orElseThrow();
        // |||IP_ADDRESS|||<|user|>\n...\n<|assistant|>\n around the question: more prompt tokens than the question alone
        assertThat(usage.promptTokens()).isGreaterThan(8);
        assertThat(usage.completionTokens()).isBetween(1L, 8L);
        assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + usage.completionTokens());
    }

    @Test
    void anImageAsADataUrl() throws Exception {
        List<ChatCompletionContentPart> parts = List.of(
                ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder().imageUrl(
                        ChatCompletionContentPartImage.ImageUrl.builder().url(TestServers.dataUrl("sq336")).build()).build()),
                ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder().text("Describe the image.").build()));
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("instella-test")
                .addUserMessageOfArrayOfContentParts(parts).maxCompletionTokens(4).temperature(0.0).build());
        // sq336: one 336x336 tile of 576 features + newline rows, as the golden case says (1195 positions in all)
        assertThat(c.usage().orElseThrow().promptTokens()).isEqualTo(1195);
        assertThat(c.usage().orElseThrow().completionTokens()).isEqualTo(4);
    }

    @Test
    void streamingWithUsageGivesTheSameTextAsAWholeAnswer() {
        ChatCompletionCreateParams whole = chat("Tell me about the sea.").maxCompletionTokens(12).temperature(0.0)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
        String expected = client.chat().completions().create(whole).choices().getFirst().message().content().orElseThrow();
        ChatCompletionCreateParams streamed = whole.toBuilder()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder text = new StringBuilder();
        List<String> finish = new ArrayList<>();
        long[] usage = new long[2];
        int chunks = 0;
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(streamed)) {
            for (ChatCompletionChunk ch : (Iterable<ChatCompletionChunk>) s.stream()::iterator) {
                chunks++;
                for (ChatCompletionChunk.Choice c : ch.choices()) {
                    c.delta().content().ifPresent(text::append);
                    c.finishReason().ifPresent(f -> finish.add(f.asString()));
                }
                ch.usage().ifPresent(u -> {
                    usage[0] = u.promptTokens();
                    usage[1] = u.completionTokens();
                });
            }
        }
        assertThat(chunks).as("one chunk per token at least").isGreaterThanOrEqualTo(12);
        assertThat(text.toString()).isEqualTo(expected);
        assertThat(finish).containsExactly("length");
        assertThat(usage[1]).isEqualTo(12);
        assertThat(usage[0]).isGreaterThan(5);
    }

    @Test
    void stopStringsCutTheAnswer() {
        ChatCompletionCreateParams base = chat("Write a long story.").maxCompletionTokens(40).temperature(0.0)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
        String full = client.chat().completions().create(base).choices().getFirst().message().content().orElseThrow();
        // Stop at a piece of what greedy decoding produces anyway: the answer must end right before it.
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        ChatCompletion cut = client.chat().completions().create(base.toBuilder()
                .stop(ChatCompletionCreateParams.Stop.ofStrings(List.of("\u0000never", stop))).build());
        ChatCompletion.Choice c = cut.choices().getFirst();
        assertThat(c.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        assertThat(c.message().content().orElseThrow()).isEqualTo(full.substring(0, full.indexOf(stop)));
    }

    @Test
    void aSeedReproducesSampling() {
        ChatCompletionCreateParams p = chat("Invent a word.").maxCompletionTokens(16).temperature(1.0).topP(0.95).seed(1234)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build();
        String a = client.chat().completions().create(p).choices().getFirst().message().content().orElseThrow();
        String b = client.chat().completions().create(p).choices().getFirst().message().content().orElseThrow();
        String other = client.chat().completions().create(p.toBuilder().seed(99).build()).choices().getFirst().message().content().orElseThrow();
        assertThat(b).isEqualTo(a);
        assertThat(other).isNotEqualTo(a);
    }

    @Test
    void logprobs() {
        ChatCompletion c = client.chat().completions().create(chat("Hello").maxCompletionTokens(5).temperature(0.0)
                .logprobs(true).topLogprobs(3).putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build());
        List<ChatCompletionTokenLogprob> lps = c.choices().getFirst().logprobs().orElseThrow().content().orElseThrow();
        assertThat(lps).hasSize(5);
        StringBuilder joined = new StringBuilder();
        for (ChatCompletionTokenLogprob t : lps) {
            assertThat(t.logprob()).isLessThanOrEqualTo(0);
            assertThat(t.topLogprobs()).hasSize(3);
            // greedy: the chosen token is the most likely one
            assertThat(t.topLogprobs().getFirst().token()).isEqualTo(t.token());
            assertThat(t.topLogprobs().getFirst().logprob()).isCloseTo(t.logprob(), within(1e-9));
            assertThat(t.topLogprobs().get(1).logprob()).isLessThanOrEqualTo(t.topLogprobs().getFirst().logprob());
            joined.append(t.token());
        }
        assertThat(joined.toString()).isEqualTo(c.choices().getFirst().message().content().orElseThrow());
    }

    @Test
    void nChoicesEachWithItsOwnSample() {
        ChatCompletion c = client.chat().completions().create(chat("Say something.").maxCompletionTokens(10).temperature(1.2)
                .seed(5).n(3).putAdditionalBodyProperty("ignore_eos", JsonValue.from(true)).build());
        assertThat(c.choices()).hasSize(3);
        assertThat(c.choices()).extracting(ChatCompletion.Choice::index).containsExactly(0L, 1L, 2L);
        Set<String> texts = new HashSet<>();
        for (ChatCompletion.Choice ch : c.choices()) texts.add(ch.message().content().orElseThrow());
        assertThat(texts).as("different seeds per choice").hasSizeGreaterThan(1);
        assertThat(c.usage().orElseThrow().completionTokens()).isEqualTo(30);
    }

    @Test
    void extensionsAndRefusals() {
        ChatCompletion c = client.chat().completions().create(chat("Hi").maxCompletionTokens(6).temperature(0.7).seed(3)
                .putAdditionalBodyProperty("top_k", JsonValue.from(20))
                .putAdditionalBodyProperty("min_p", JsonValue.from(0.05))
                .putAdditionalBodyProperty("repetition_penalty", JsonValue.from(1.3))
                .frequencyPenalty(0.5).presencePenalty(0.5).build());
        assertThat(c.choices()).hasSize(1);
        assertThatThrownBy(() -> client.chat().completions().create(chat("Hi").putAdditionalBodyProperty("mirostat", JsonValue.from(2)).build()))
                .isInstanceOfSatisfying(BadRequestException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(400);
                    assertThat(e.param()).contains("mirostat");
                });
    }

    @Test
    void legacyCompletions() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model("instella-test")
                .prompt("The quick brown fox").maxTokens(6).temperature(0.0).logprobs(2).build());
        assertThat(c.choices()).hasSize(1);
        var lp = c.choices().getFirst().logprobs().orElseThrow();
        assertThat(lp.tokens().orElseThrow()).hasSize(c.usage().orElseThrow().completionTokens() > 0
                ? (int) c.usage().orElseThrow().completionTokens() : 0);
        assertThat(c.usage().orElseThrow().promptTokens()).isEqualTo(4);
    }
}
