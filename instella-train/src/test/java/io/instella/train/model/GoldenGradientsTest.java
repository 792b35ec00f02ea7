package io.instella.train.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.Tensor;
import io.instella.core.testing.Golden;
import io.instella.model.config.InstellaConfig;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.ImagePreprocessor;
import io.instella.model.image.ImageProcessingConfig;
import io.instella.model.image.PreprocessedImage;
import io.instella.train.data.Batch;
import io.instella.train.data.TrainingExample;
import io.instella.train.params.Parameter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Loss, merged labels and gradients of one forward/backward of {@link TrainableModel} against the upstream trainer
 * (golden/train: the padded two-example batch in every mode), with the golden README's tolerances. Every single
 * example × mode is checked through the command line by {@code TrainContractTest}.
 */
class GoldenGradientsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final Map<String, TrainableModel> MODELS = new HashMap<>();

    record Mode(String name, String parts, String aspect, String merge, int maxLength) {}

    static final List<Mode> MODES = List.of(
            new Mode("stage1", "mm_mlp_adapter", "anyres", "spatial_unpad", 32768),
            new Mode("full", "mm_vision_tower,mm_mlp_adapter,mm_language_model", "anyres", "spatial_unpad", 32768),
            new Mode("stage1_square", "mm_mlp_adapter", "square", "flat", 8192));

    static final List<String> EXAMPLES = List.of("a1_sq336_single", "a2_tall200x900_multiturn", "a3_text_only_multiturn",
            "a4_land640x480_single");

    static Mode mode(String name) {
        return MODES.stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow();
    }

    static TrainableModel model(Mode m) {
        return MODELS.computeIfAbsent(m.name(), k -> TrainableModel.open(Golden.resolve("model"),
                new TrainableModel.Options(TunableParts.parse(m.parts()), m.aspect(), m.merge(), m.maxLength())));
    }

    @AfterAll
    static void close() {
        MODELS.values().forEach(TrainableModel::close);
        MODELS.clear();
    }

    static JsonNode json(Path p) throws IOException {
        return JSON.readTree(p.toFile());
    }

    static int[] ints(Tensor t) {
        long[] l = t.toLongArray();
        int[] a = new int[l.length];
        for (int i = 0; i < l.length; i++) a[i] = Math.toIntExact(l[i]);
        return a;
    }

    /** The record as the golden trainer saw it: its stored ids/labels and its image preprocessed for the mode. */
    static TrainingExample example(String id, Mode m) throws IOException {
        Path dir = Golden.resolve("train").resolve(id);
        JsonNode record = null;
        for (JsonNode r : json(Golden.resolve("train/examples.json"))) if (r.get("id").asText().equals(id)) record = r;
        assertThat(record).as("record " + id).isNotNull();
        try (Checkpoint t = Checkpoint.open(dir.resolve("tensors.safetensors"))) {
            int[] ids = ints(t.get("input_ids")), labels = ints(t.get("labels"));
            InstellaConfig config = InstellaConfig.load(Golden.resolve("model"));
            var mm = config.multimodal();
            List<PreprocessedImage> images = new ArrayList<>();
            boolean textOnly = !record.has("image");
            if (textOnly) {
                images.add(new PreprocessedImage(336, 336, 1, new float[3 * 336 * 336], 0, 0));
            } else {
                var pre = new ImagePreprocessor(ImageProcessingConfig.fromPreprocessorConfig(mm.preprocessorConfig(), m.aspect(), mm.gridPinpoints()));
                images.add(pre.preprocess(ImageDecoder.defaults().decode(Golden.resolve("images").resolve(record.get("image").asText()))));
            }
            return new TrainingExample(id, "examples.json", ids, labels, images, textOnly);
        }
    }

    static Batch batchOf(List<TrainingExample> examples) {
        int len = examples.stream().mapToInt(e -> e.inputIds().length).max().orElse(0);
        int[][] ids = new int[examples.size()][len], labels = new int[examples.size()][len], mask = new int[examples.size()][len];
        for (int b = 0; b < examples.size(); b++) {
            TrainingExample e = examples.get(b);
            java.util.Arrays.fill(ids[b], 1);
            java.util.Arrays.fill(labels[b], -100);
            System.arraycopy(e.inputIds(), 0, ids[b], 0, e.inputIds().length);
            System.arraycopy(e.labels(), 0, labels[b], 0, e.labels().length);
            for (int i = 0; i < len; i++) mask[b][i] = ids[b][i] != 1 ? 1 : 0;
        }
        return new Batch(ids, labels, mask, examples);
    }

    @ParameterizedTest(name = "batch {0}")
    @MethodSource("modeNames")
    void thePaddedBatchMatchesTheUpstreamTrainer(String modeName) throws IOException {
        Mode m = mode(modeName);
        TrainableModel model = model(m);
        model.parameters().zeroGrad();
        TrainableModel.StepResult result = model.forwardBackward(batchOf(List.of(example("a1_sq336_single", m),
                example("a3_text_only_multiturn", m))));
        JsonNode c = json(Golden.resolve("train/batch/case.json"));
        JsonNode ref = c.get("modes").get(modeName);
        assertThat(result.loss()).isCloseTo(ref.get("loss").asDouble(), within(1e-4));
        assertThat(result.targets()).isEqualTo(ref.get("num_trained_targets").asInt());
        for (int b = 0; b < 2; b++) {
            assertThat(result.examples().get(b).mergedLength()).isEqualTo(ref.get("merged_sequence_length").get(b).asInt());
            assertThat(result.examples().get(b).loss()).isCloseTo(c.get("per_example_losses").get(modeName).get(b).asDouble(), within(1e-4));
        }
        try (Checkpoint t = Checkpoint.open(Golden.resolve("train/batch").resolve(modeName).resolve("tensors.safetensors"))) {
            int[] mergedLabels = ints(t.get("merged_labels"));
            int width = mergedLabels.length / 2;
            for (int b = 0; b < 2; b++) {
                int[] ours = result.examples().get(b).mergedLabels();
                int[] row = java.util.Arrays.copyOfRange(mergedLabels, b * width, b * width + ours.length);
                assertThat(ours).containsExactly(row);
                for (int i = ours.length; i < width; i++) assertThat(mergedLabels[b * width + i]).isEqualTo(-100);
            }
            checkGradients(model, t, ref);
        }
    }

    static Stream<String> modeNames() {
        return MODES.stream().map(Mode::name);
    }

    static void checkGradients(TrainableModel model, Checkpoint t, JsonNode ref) {
        for (String name : t.names()) {
            if (!name.startsWith("grad.") || name.startsWith("grad_rows.") || name.startsWith("grad_rownorm.")) continue;
            String param = name.substring("grad.".length());
            Parameter p = model.parameters().get(param);
            assertThat(p).as(param + " is trained").isNotNull();
            assertThat(p.grad()).as(param + " has a gradient").isNotNull();
            float[] expected = t.get(name).toFloatArray();
            float[] actual = p.grad();
            if (t.contains("grad_rows." + param)) {
                long[] rows = t.get("grad_rows." + param).toLongArray();
                int h = (int) (expected.length / rows.length);
                float[] picked = new float[expected.length];
                for (int r = 0; r < rows.length; r++) System.arraycopy(actual, (int) rows[r] * h, picked, r * h, h);
                actual = picked;
                float[] rowNorms = t.get("grad_rownorm." + param).toFloatArray();
                double maxNorm = 0;
                for (float v : rowNorms) maxNorm = Math.max(maxNorm, v);
                for (int r = 0; r < rowNorms.length; r++) {
                    double s = 0;
                    for (int i = 0; i < h; i++) s += (double) p.grad()[r * h + i] * p.grad()[r * h + i];
                    assertThat(Math.sqrt(s)).as(param + " row " + r + " norm").isCloseTo(rowNorms[r], within(1e-3 * Math.max(1, maxNorm)));
                }
            }
            double maxRef = 0, maxDiff = 0;
            for (int i = 0; i < expected.length; i++) {
                maxRef = Math.max(maxRef, Math.abs(expected[i]));
                maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
            }
            assertThat(maxDiff).as(param + " max |diff| (max |ref| " + maxRef + ")").isLessThanOrEqualTo(1e-3 * Math.max(1, maxRef));
        }
        JsonNode norms = ref.get("grad_l2_norms");
        for (Iterator<String> it = norms.fieldNames(); it.hasNext(); ) {
            String param = it.next();
            Parameter p = model.parameters().get(param);
            if (norms.get(param).isNull()) {
                assertThat(p == null || p.grad() == null).as(param + " gets no gradient").isTrue();
                continue;
            }
            assertThat(p).as(param + " is trained").isNotNull();
            assertThat(p.grad()).as(param + " has a gradient").isNotNull();
            double s = 0;
            for (float v : p.grad()) s += (double) v * v;
            double expected = norms.get(param).asDouble();
            // 1e-3 relative; a gradient that is zero in exact arithmetic (the key bias: softmax ignores a shift of all
            // scores) is float noise of ~1e-8 on both sides, so an absolute 1e-6 floor.
            assertThat(Math.sqrt(s)).as(param + " L2 norm").isCloseTo(expected, within(Math.max(1e-3 * expected, 1e-6)));
        }
        for (JsonNode none : ref.get("parameters_with_grad_None")) {
            Parameter p = model.parameters().get(none.asText());
            assertThat(p == null || p.grad() == null).as(none.asText() + " gets no gradient").isTrue();
        }
        for (JsonNode zero : ref.get("parameters_with_all_zero_grad")) {
            float[] g = model.parameters().get(zero.asText()).grad();
            assertThat(g).as(zero.asText() + " has an all-zero gradient").isNotNull();
            for (float v : g) assertThat(v).isZero();
        }
    }

    @Test
    void trainableTensorsFollowUpstreamNameRules() {
        TunableParts stage1 = TunableParts.parse("mm_mlp_adapter");
        assertThat(stage1.trains("model.mm_projector.0.weight")).isTrue();
        assertThat(stage1.trains("model.image_newline")).isFalse();
        TunableParts lm = TunableParts.parse("mm_language_model");
        assertThat(lm.trains("model.image_newline")).isTrue();
        assertThat(lm.trains("model.embed_tokens.weight")).isTrue();
        assertThat(lm.trains("model.vision_tower.vision_tower.vision_model.pre_layrnorm.weight")).isFalse();
        assertThat(TunableParts.parse("mm_vision_tower").trains("model.vision_tower.vision_tower.vision_model.pre_layrnorm.weight")).isTrue();
    }
}
