package io.instella.model.generate;

import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Sessions stepped together (chunked prefill, batched decode, prefix reuse) give what {@link Generator}
 * gives for each request alone.
 */
class GenerationSessionTest {
    static InstellaVL model;

    @BeforeAll
    static void load() {
        model = InstellaVL.load(Golden.resolve("model"));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    static PreparedPrompt text(String question) {
        return model.prepare(ChatTemplate.single(question, 0), List.of());
    }

    static GenerationOptions sampled(long seed, int max) {
        return GenerationOptions.builder().maxNewTokens(max).temperature(0.9).topK(50).topP(0.95).seed(seed)
                .ignoreEos(true).logprobs(true).topLogprobs(3).build();
    }

    @Test
    void batchedSessionsEqualSeparateGeneration() {
        RgbImage image = ImageDecoder.defaults().decode(Golden.resolve("images/sq336.png"));
        List<PreparedPrompt> prompts = List.of(text("What is the capital of France?"),
                model.prepare(ChatTemplate.single("Describe the image.", 1), List.of(image)),
                text("Count to ten."));
        List<GenerationOptions> options = List.of(GenerationOptions.builder().maxNewTokens(12).ignoreEos(true).build(),
                sampled(7, 9), sampled(11, 15).toBuilder().stopStrings(List.of("zzzz")).build());
        Generator solo = new Generator(model);
        List<GenerationResult> expected = new ArrayList<>();
        List<StringBuilder> expectedStream = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            StringBuilder sb = new StringBuilder();
            expected.add(solo.generate(prompts.get(i), options.get(i), (id, d) -> sb.append(d)));
            expectedStream.add(sb);
        }
        List<GenerationSession> sessions = new ArrayList<>();
        List<StringBuilder> streams = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            StringBuilder sb = new StringBuilder();
            streams.add(sb);
            sessions.add(GenerationSession.fresh(model, prompts.get(i), options.get(i), (id, d) -> sb.append(d), 4096, false));
        }
        // Staggered: the image prompt prefills in chunks of 100 rows while the others already decode together.
        int steps = 0;
        while (sessions.stream().anyMatch(s -> !s.finished())) {
            for (GenerationSession s : sessions) {
                if (s.state() == GenerationSession.State.PREFILL) {
                    s.prefill(100);
                    break;
                }
            }
            DecodeBatch.step(model.languageModel(), sessions.stream().filter(s -> s.state() == GenerationSession.State.DECODE).toList());
            steps++;
        }
        assertThat(steps).isLessThan(40);
        for (int i = 0; i < prompts.size(); i++) {
            GenerationResult got = sessions.get(i).result();
            assertThat(got.completionIds()).as("request %d", i).containsExactly(expected.get(i).completionIds());
            assertThat(got.text()).isEqualTo(expected.get(i).text());
            assertThat(streams.get(i).toString()).isEqualTo(expectedStream.get(i).toString()).isEqualTo(got.text());
            assertThat(got.finishReason()).isEqualTo(expected.get(i).finishReason());
            assertThat(got.logprobs()).hasSameSizeAs(expected.get(i).logprobs());
            for (int t = 0; t < got.logprobs().size(); t++) {
                TokenLogprob a = got.logprobs().get(t), b = expected.get(i).logprobs().get(t);
                assertThat(a.tokenId()).isEqualTo(b.tokenId());
                assertThat(a.logprob()).isCloseTo(b.logprob(), org.assertj.core.data.Offset.offset(1e-4));
                assertThat(a.top()).hasSize(3);
                assertThat(a.top().getFirst().logprob()).isGreaterThanOrEqualTo(a.top().get(1).logprob());
            }
        }
    }

    @Test
    void aContinuedConversationReusesItsCacheAndGivesTheSameTokens() {
        PrefixCache pool = new PrefixCache(64L << 20, 0.5);
        GenerationOptions opts = GenerationOptions.builder().maxNewTokens(8).ignoreEos(true).build();
        String q1 = "Tell me a story.";
        PreparedPrompt first = model.prepare(ChatTemplate.render(List.of(ChatMessage.user(q1)), true), List.of());
        long[] keys1 = PrefixCache.keys(first, new long[0]);
        PrefixCache.Lease lease = pool.acquire(keys1, model.languageModel(), 512);
        assertThat(lease.reusedPositions()).isZero();
        GenerationSession s1 = new GenerationSession(model, first, opts, null, lease.cache(), 0, false);
        s1.prefill(1000);
        while (!s1.finished()) s1.decodeOne();
        pool.release(s1.cachedKeys(keys1), s1.cache());
        assertThat(pool.size()).isEqualTo(1);

        // The next turn: the history re-sent with the answer and a new question.
        String answer = s1.result().text();
        PreparedPrompt second = model.prepare(ChatTemplate.render(List.of(ChatMessage.user(q1), ChatMessage.assistant(answer),
                ChatMessage.user("And then?")), true), List.of());
        long[] keys2 = PrefixCache.keys(second, new long[0]);
        PrefixCache.Lease reuse = pool.acquire(keys2, model.languageModel(), 512);
        assertThat(reuse.reusedPositions()).as("the first prompt at least is reused").isGreaterThanOrEqualTo(first.sequenceLength());
        assertThat(pool.size()).isZero();
        GenerationSession s2 = new GenerationSession(model, second, opts, null, reuse.cache(), reuse.reusedPositions(), false);
        assertThat(s2.remainingPrompt()).isEqualTo(second.sequenceLength() - reuse.reusedPositions());
        s2.prefill(1000);
        while (!s2.finished()) s2.decodeOne();
        GenerationResult fresh = new Generator(model).generate(second, opts, null);
        assertThat(s2.result().completionIds()).containsExactly(fresh.completionIds());

        // An unrelated prompt sharing only the template's first tokens does not take a long conversation.
        pool.release(s2.cachedKeys(keys2), s2.cache());
        PreparedPrompt other = text("Something else entirely, please.");
        assertThat(pool.acquire(PrefixCache.keys(other, new long[0]), model.languageModel(), 512).reusedPositions()).isZero();
        assertThat(pool.size()).isEqualTo(1);
    }

    @Test
    void imageKeysMatchTheSameImageOnly() {
        RgbImage image = ImageDecoder.defaults().decode(Golden.resolve("images/sq336.png"));
        PreparedPrompt p = model.prepare(ChatTemplate.single("Hi", 1), List.of(image));
        long[] a = PrefixCache.keys(p, new long[]{1234});
        long[] b = PrefixCache.keys(p, new long[]{1235});
        assertThat(a).hasSize(p.sequenceLength());
        int firstImageRow = 0;
        while (a[firstImageRow] >= 0) firstImageRow++;
        assertThat(PrefixCache.commonPrefix(a, b)).isEqualTo(firstImageRow);
        assertThat(PrefixCache.keys(p, new long[]{1234})).containsExactly(a);
        for (long k : a) if (k < 0) assertThat(k).isNotEqualTo(PreparedPrompt.IMAGE_TOKEN_INDEX);
    }

    @Test
    void cancellingEndsASessionInAnyState() {
        GenerationSession s = GenerationSession.fresh(model, text("Hello"), GenerationOptions.greedy(5), null, 256, false);
        s.cancel();
        assertThat(s.result().finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(s.result().completionIds()).isEmpty();
        assertThatThrownBy(() -> s.prefill(10)).isInstanceOf(IllegalStateException.class);
    }
}
