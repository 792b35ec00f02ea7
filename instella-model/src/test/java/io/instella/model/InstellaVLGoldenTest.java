package io.instella.model;

import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.Generator;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import io.instella.model.testing.GoldenCase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The whole pipeline (template, tokenizer, image decode + preprocessing, tower, merge, LM, greedy) against every golden case. */
class InstellaVLGoldenTest {
    static InstellaVL model;

    @BeforeAll
    static void load() {
        model = InstellaVL.load(Golden.resolve("model"));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    static List<GoldenCase> cases() { return GoldenCase.all(); }

    static List<ChatMessage> messages(GoldenCase c) {
        List<ChatMessage> msgs = new ArrayList<>();
        var turns = c.json().get("turns");
        for (int i = 0; i < turns.size(); i++) {
            msgs.add(ChatMessage.user(turns.get(i).get(0).asText(), i == 0 && c.image() != null ? 1 : 0));
            if (!turns.get(i).get(1).isNull()) msgs.add(ChatMessage.assistant(turns.get(i).get(1).asText()));
        }
        return msgs;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void endToEnd(GoldenCase c) {
        List<RgbImage> images = new ArrayList<>();
        if (c.image() != null) images.add(ImageDecoder.defaults().decode(Golden.resolve("images/" + c.image() + ".png")));
        String prompt = ChatTemplate.render(messages(c), true);
        assertThat(prompt).isEqualTo(c.json().get("prompt").asText());
        PreparedPrompt p = model.prepare(prompt, images);
        assertThat(p.inputIds()).containsExactly(c.inputIds());
        assertThat(p.sequenceLength()).isEqualTo(c.json().get("sequence_length_after_merge").asInt());
        if (c.image() != null) {
            assertThat(p.numImageTokens()).isEqualTo(c.json().get("num_image_tokens").asInt());
            EncodedImage e = p.images().getFirst();
            assertThat(model.imageTokenCount(images.getFirst().width(), images.getFirst().height())).isEqualTo(e.tokens());
            try (SafeTensorsFile t = SafeTensorsFile.open(Golden.resolve("images/" + c.image() + ".safetensors"))) {
                assertThat(maxAbsDiff(e.preprocessed().pixelValues(), t.tensor("pixel_values").toFloatArray())).as("pixel_values").isLessThan(1e-5);
                assertThat(maxAbsDiff(e.visionFeatures(), t.tensor("vision_features").toFloatArray())).as("vision_features").isLessThan(1e-3);
                assertThat(maxAbsDiff(e.projectedFeatures(), t.tensor("projected_features").toFloatArray())).as("projected_features").isLessThan(1e-3);
                assertThat(maxAbsDiff(e.mergedFeatures(), t.tensor("merged_features").toFloatArray())).as("merged_features").isLessThan(1e-3);
            }
        }
        GenerationResult r = new Generator(model).generate(p, GenerationOptions.builder().maxNewTokens(16).ignoreEos(true).build(),
                null, model.contextLength(), true);
        try (SafeTensorsFile t = c.tensors()) {
            assertThat(maxAbsDiff(r.promptFinalHidden(), t.tensor("final_hidden").toFloatArray())).as("final_hidden").isLessThan(2e-3);
            assertThat(maxAbsDiff(r.promptLastLogits(), t.tensor("logits_last").toFloatArray())).as("logits_last").isLessThan(2e-3);
        }
        int steps = c.robustGreedySteps();
        int[] expected = c.greedyIds();
        assertThat(r.completionIds().length).isEqualTo(16);
        for (int s = 0; s < steps; s++) assertThat(r.completionIds()[s]).as("greedy step %d", s).isEqualTo(expected[s]);
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertThat(a.length).isEqualTo(b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
