package io.instella.apitest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.api.Conversation;
import io.instella.api.FinishReason;
import io.instella.api.GenerateOptions;
import io.instella.api.GenerationListener;
import io.instella.api.Image;
import io.instella.api.InstellaApiException;
import io.instella.api.InstellaModel;
import io.instella.api.LoadOptions;
import io.instella.api.Response;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The library API exactly as an application uses it: only {@code io.instella.api} types (this test sits in a
 * package of its own, so nothing package-private is reachable). The model is the golden tiny checkpoint; answers
 * are checked against the upstream reference's greedy tokens.
 */
class PublicApiTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static InstellaModel model;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        model = InstellaModel.load(Golden.resolve("model").toString());
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    static JsonNode goldenCase(String name) throws IOException {
        return JSON.readTree(Golden.resolve("cases/" + name + "/case.json").toFile());
    }

    /** Greedy steps whose top-2 logit margin in the reference is wide enough to compare ids exactly. */
    static int robustSteps(JsonNode c) {
        JsonNode m = c.get("greedy_top1_minus_top2_margin");
        for (int i = 0; i < m.size(); i++) if (m.get(i).asDouble() < 1e-2) return i;
        return m.size();
    }

    static int[] ids(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    @Test
    void answersAnImageQuestionAsTheReferenceDoes() throws IOException {
        JsonNode c = goldenCase("sq336_describe");
        Image image = Image.fromPath(Golden.resolve("images/sq336.png"));
        assertThat(model.imageTokens(image)).isEqualTo(c.get("num_image_tokens").asInt());
        Conversation chat = Conversation.create().user(c.get("turns").get(0).get(0).asText(), image);
        StringBuilder streamed = new StringBuilder();
        AtomicInteger encodedCalls = new AtomicInteger();
        int[] lastProgress = new int[2];
        Response r = model.generate(chat, GenerateOptions.greedy().withMaxNewTokens(16).withIgnoreEos(true),
                new GenerationListener() {
                    @Override
                    public void onText(String delta) { streamed.append(delta); }

                    @Override
                    public void onImageEncoded(int done, int total) { encodedCalls.incrementAndGet(); }

                    @Override
                    public void onPromptProgress(int done, int total) {
                        lastProgress[0] = done;
                        lastProgress[1] = total;
                    }
                });
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokenIds()).hasSize(16);
        int steps = robustSteps(c);
        assertThat(steps).isGreaterThan(2);
        int[] golden = ids(c.get("greedy_ids"));
        for (int i = 0; i < steps; i++) assertThat(r.tokenIds()[i]).as("greedy step %d", i).isEqualTo(golden[i]);
        assertThat(streamed.toString()).isEqualTo(r.text());
        assertThat(r.stats().promptTokens()).isEqualTo(c.get("sequence_length_after_merge").asInt());
        assertThat(r.stats().imageTokens()).isEqualTo(c.get("num_image_tokens").asInt());
        assertThat(r.stats().imagesEncoded()).isEqualTo(1);
        assertThat(encodedCalls.get()).as("before and after the one image").isEqualTo(2);
        assertThat(lastProgress[0]).isEqualTo(lastProgress[1]).isEqualTo(r.stats().promptTokens() - r.stats().reusedPromptTokens());
        assertThat(r.stats().generatedTokens()).isEqualTo(16);
        assertThat(r.stats().generationTokensPerSecond()).isPositive();
        assertThat(r.stats().promptTokensPerSecond()).isPositive();
    }

    @Test
    void secondTurnReusesTheFirstAndStillMatchesTheReference() throws IOException {
        JsonNode c = goldenCase("tall200x900_multiturn");
        JsonNode turns = c.get("turns");
        Image image = Image.fromPath(Golden.resolve("images/tall200x900.png"));
        Conversation chat = Conversation.create().user(turns.get(0).get(0).asText(), image);
        Response first = model.generate(chat, GenerateOptions.greedy().withMaxNewTokens(4));
        int firstPrompt = first.stats().promptTokens();

        // The reference's second turn follows its scripted first answer.
        chat.assistant(turns.get(0).get(1).asText()).user(turns.get(1).get(0).asText());
        Response second = model.generate(chat, GenerateOptions.greedy().withMaxNewTokens(16).withIgnoreEos(true));
        assertThat(second.stats().reusedPromptTokens()).as("the first turn's prompt, image included, is not recomputed")
                .isGreaterThanOrEqualTo(firstPrompt);
        assertThat(second.stats().imagesEncoded()).isZero();
        assertThat(second.stats().promptTokens()).isEqualTo(c.get("sequence_length_after_merge").asInt());
        int[] golden = ids(c.get("greedy_ids"));
        for (int i = 0; i < robustSteps(c); i++) {
            assertThat(second.tokenIds()[i]).as("greedy step %d", i).isEqualTo(golden[i]);
        }

        // Asking the same question again recomputes only the last prompt position.
        Response again = model.generate(chat, GenerateOptions.greedy().withMaxNewTokens(16).withIgnoreEos(true));
        assertThat(again.stats().reusedPromptTokens()).isEqualTo(again.stats().promptTokens() - 1);
        assertThat(again.tokenIds()).containsExactly(second.tokenIds());

        // A different conversation starts afresh (only the template's opening tokens can be shared).
        Response other = model.generate(Conversation.create().user("Hello there"), GenerateOptions.greedy().withMaxNewTokens(2));
        assertThat(other.stats().reusedPromptTokens()).isLessThan(10);
    }

    @Test
    void cancellationEndsTheAnswerEarly() {
        List<String> pieces = new ArrayList<>();
        Response r = model.generate(Conversation.create().system("Be brief.").user("Count to one hundred."),
                GenerateOptions.defaults().withMaxNewTokens(200).withIgnoreEos(true).withCancellation(() -> pieces.size() >= 3),
                pieces::add);
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokenIds().length).isBetween(3, 20);
        assertThat(String.join("", pieces)).isEqualTo(r.text());

        // Cancelled before the image is encoded: nothing is computed, and the next answer still works.
        Image image = Image.fromPath(Golden.resolve("images/sq336.png"));
        Conversation chat = Conversation.create().user("What is this?", image);
        Response stopped = model.generate(chat, GenerateOptions.greedy().withCancellation(() -> true));
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(stopped.tokenIds()).isEmpty();
        assertThat(stopped.stats().imagesEncoded()).isZero();
        Response next = model.generate(chat, GenerateOptions.greedy().withMaxNewTokens(2).withIgnoreEos(true));
        assertThat(next.stats().imagesEncoded()).isEqualTo(1);
        assertThat(next.tokenIds()).hasSize(2);
    }

    @Test
    void seededSamplingIsReproducible() {
        Conversation chat = Conversation.create().user("Tell me something.");
        GenerateOptions o = GenerateOptions.referenceSampling().withMaxNewTokens(12).withIgnoreEos(true).withSeed(1234);
        Response a = model.generate(chat, o);
        Response b = model.generate(chat, o);
        assertThat(a.tokenIds()).containsExactly(b.tokenIds());
        assertThat(a.text()).isEqualTo(b.text());
    }

    @Test
    void clearErrors() throws IOException {
        assertThatThrownBy(() -> InstellaModel.load(tmp.resolve("missing").toString()))
                .isInstanceOf(InstellaApiException.class).hasMessageContaining("no such model directory");
        assertThatThrownBy(() -> InstellaModel.load("not a model"))
                .isInstanceOf(InstellaApiException.class).hasMessageContaining("neither a model directory nor a Hugging Face repo id");
        Path junk = tmp.resolve("junk.png");
        Files.writeString(junk, "not an image");
        assertThatThrownBy(() -> Image.fromPath(junk)).isInstanceOf(InstellaApiException.class).hasMessageContaining("junk.png");
        assertThatThrownBy(() -> Image.fromBytes(new byte[0], "upload")).isInstanceOf(InstellaApiException.class)
                .hasMessageContaining("upload");
        assertThatThrownBy(() -> model.generate(Conversation.create().user("q").assistant("a")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("end with a user turn");
        assertThatThrownBy(() -> Conversation.create().user("q").user("again")).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> GenerateOptions.defaults().withTopP(0)).isInstanceOf(IllegalArgumentException.class);

        try (InstellaModel small = InstellaModel.load(Golden.resolve("model").toString(), LoadOptions.defaults().withContextLength(100))) {
            Image image = Image.fromPath(Golden.resolve("images/sq336.png"));
            assertThatThrownBy(() -> small.generate(Conversation.create().user("What is it?", image)))
                    .isInstanceOf(InstellaApiException.class).hasMessageContaining("longer than the context of 100 tokens");
            // The model stays usable after a failed call.
            Response r = small.generate(Conversation.create().user("Hi"), GenerateOptions.greedy().withMaxNewTokens(3).withIgnoreEos(true));
            assertThat(r.tokenIds()).hasSize(3);
        }
    }
}
