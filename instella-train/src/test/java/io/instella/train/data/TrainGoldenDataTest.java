package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;
import io.instella.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Parity with ../shared/golden/train: what the upstream trainer's data path (LazySupervisedDataset._get_item,
 * preprocess_instella, process_image, DataCollatorForSupervisedDataset) made of the four records in examples.json.
 */
class TrainGoldenDataTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] IDS = {"a1_sq336_single", "a2_tall200x900_multiturn", "a3_text_only_multiturn",
            "a4_land640x480_single"};

    static Path train;
    static Path model;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        train = Golden.resolve("train");
        model = Golden.resolve("model");
        tokenizer = Tokenizer.load(model.resolve("tokenizer.json"), 50304);
    }

    static List<TrainingExample> buildAll(String aspect, String merge, int maxLength) throws Exception {
        TrainingImageConfig images = TrainingImageConfig.forModel(model, aspect, merge);
        ExampleBuilder builder = new ExampleBuilder(tokenizer, 1, images, maxLength, false);
        List<TrainingExample> out = new ArrayList<>();
        try (JsonRecordFile file = JsonRecordFile.open(train.resolve("examples.json"), Golden.resolve("images"))) {
            assertThat(file.size()).isEqualTo(4);
            for (int i = 0; i < file.size(); i++) out.add(builder.build(file.read(i)));
        }
        return out;
    }

    static int[] ints(SafeTensorsFile f, String name) {
        long[] v = f.tensor(name).toLongArray();
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Math.toIntExact(v[i]);
        return out;
    }

    @Test
    void idsLabelsConversationAndMergedLengthsMatchUpstreamAnyres() throws Exception {
        List<TrainingExample> examples = buildAll("anyres", "spatial_unpad", 32768);
        int[] expectedMerged = {1210, 1887, 60, 2381};
        for (int i = 0; i < IDS.length; i++) {
            TrainingExample e = examples.get(i);
            Path dir = train.resolve(IDS[i]);
            JsonNode c = JSON.readTree(dir.resolve("case.json").toFile());
            assertThat(e.id()).isEqualTo(IDS[i]);
            try (SafeTensorsFile t = SafeTensorsFile.open(dir.resolve("tensors.safetensors"))) {
                assertThat(e.inputIds()).as(IDS[i] + " input_ids").containsExactly(ints(t, "input_ids"));
                assertThat(e.labels()).as(IDS[i] + " labels").containsExactly(ints(t, "labels"));
                if (t.contains("image_sizes")) {
                    assertThat(e.imageSizes()[0]).containsExactly(ints(t, "image_sizes"));
                    assertThat(e.textOnly()).isFalse();
                    assertThat(e.images().get(0).tiles()).isEqualTo(c.get("anyres_tiles_incl_base").asInt());
                } else {
                    assertThat(e.textOnly()).isTrue();
                    assertThat(e.imageSizes()[0]).containsExactly(336, 336);
                    assertThat(e.images().get(0).pixelValues()).hasSize(3 * 336 * 336).containsOnly(0f);
                }
            }
            ExampleBuilder.Text text = new ExampleBuilder(tokenizer, 1, TrainingImageConfig.forModel(model, null, null),
                    32768, false).text(readRecord(i));
            assertThat(text.conversation()).isEqualTo(c.get("conversation_string").asText());
            assertThat(e.mergedLength()).isEqualTo(expectedMerged[i])
                    .isEqualTo(c.at("/modes/full/merged_sequence_length").asInt());
            assertThat(e.trainedTargets()).isEqualTo(c.at("/modes/full/num_trained_targets").asInt());
        }
    }

    static LlavaRecord readRecord(int i) throws Exception {
        try (JsonRecordFile file = JsonRecordFile.open(train.resolve("examples.json"), Golden.resolve("images"))) {
            return file.read(i);
        }
    }

    @Test
    void squareModePixelsAndMergedLengthsMatchUpstreamStage1() throws Exception {
        List<TrainingExample> examples = buildAll("square", "flat", 8192);
        int[] expectedMerged = {610, 663, 60, 617};
        for (int i = 0; i < IDS.length; i++) {
            TrainingExample e = examples.get(i);
            Path dir = train.resolve(IDS[i]);
            JsonNode c = JSON.readTree(dir.resolve("case.json").toFile());
            assertThat(e.mergedLength()).as(IDS[i]).isEqualTo(expectedMerged[i])
                    .isEqualTo(c.at("/modes/stage1_square/merged_sequence_length").asInt());
            try (SafeTensorsFile t = SafeTensorsFile.open(dir.resolve("stage1_square/tensors.safetensors"))) {
                if (!t.contains("pixel_values")) {
                    assertThat(e.textOnly()).isTrue();
                    continue;
                }
                float[] ref = t.tensor("pixel_values").toFloatArray();
                float[] got = e.images().get(0).pixelValues();
                assertThat(e.images().get(0).tiles()).isEqualTo(1);
                assertThat(got).hasSameSizeAs(ref);
                double worst = 0;
                for (int k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(ref[k] - got[k]));
                assertThat(worst).as(IDS[i] + " pixel_values max |diff|").isLessThanOrEqualTo(1e-6);
            }
        }
    }

    @Test
    void collatedBatchMatchesUpstreamCollator() throws Exception {
        List<TrainingExample> examples = buildAll("anyres", "spatial_unpad", 32768);
        Batch batch = new Collator(1, 32768).collate(List.of(examples.get(0), examples.get(2)));
        try (SafeTensorsFile t = SafeTensorsFile.open(train.resolve("batch/tensors.safetensors"))) {
            int[] ids = ints(t, "input_ids");
            int[] labels = ints(t, "labels");
            int[] mask = ints(t, "attention_mask");
            int[] sizes = ints(t, "image_sizes");
            int n = batch.inputIds()[0].length;
            assertThat(ids).hasSize(2 * n);
            for (int b = 0; b < 2; b++) {
                assertThat(batch.inputIds()[b]).containsExactly(java.util.Arrays.copyOfRange(ids, b * n, (b + 1) * n));
                assertThat(batch.labels()[b]).containsExactly(java.util.Arrays.copyOfRange(labels, b * n, (b + 1) * n));
                assertThat(batch.attentionMask()[b]).containsExactly(java.util.Arrays.copyOfRange(mask, b * n, (b + 1) * n));
            }
            int[][] gotSizes = batch.imageSizes();
            assertThat(new int[] {gotSizes[0][0], gotSizes[0][1], gotSizes[1][0], gotSizes[1][1]}).containsExactly(sizes);
            assertThat(batch.modalities()).containsExactly("image", "text");
            assertThat(batch.trainedTargets()).isEqualTo(35);
        }
    }
}
