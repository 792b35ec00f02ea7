package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.instella.core.testing.Golden;
import io.instella.model.image.ImageDecoder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExampleBuilderTest {
    @TempDir
    Path dir;

    static LlavaRecord record(String id, List<String> images, Path folder, String... turns) {
        List<LlavaRecord.Message> msgs = new ArrayList<>();
        for (int i = 0; i < turns.length; i++) msgs.add(new LlavaRecord.Message(i % 2 == 0 ? "human" : "gpt", turns[i]));
        List<LlavaRecord.ImageRef> refs = new ArrayList<>();
        for (String im : images) refs.add(new LlavaRecord.FileImage(folder.resolve(im), im));
        return new LlavaRecord("test#" + id, id, refs, !images.isEmpty(), msgs);
    }

    @Test
    void aRecordWithSeveralImagesIsPaddedToSquaresAsUpstreamDoes() throws Exception {
        Files.write(dir.resolve("a.png"), TestData.png(90, 40, 1));
        Files.write(dir.resolve("b.png"), TestData.png(30, 60, 2));
        LlavaRecord r = record("multi", List.of("a.png", "b.png"), dir, "<image>\n<image>\nCompare them.", "Same.");
        ExampleBuilder anyres = new ExampleBuilder(TestData.tokenizer(), 1, TestData.anyres(), 32768, false);
        TrainingExample e = anyres.build(r);
        assertThat(e.placeholders()).isEqualTo(2);
        assertThat(e.images()).hasSize(2).allSatisfy(img -> assertThat(img.tiles()).isEqualTo(1));
        // "pad" mode, single-tile branch: 576 patches + image_newline under spatial_unpad.
        assertThat(e.mergedLength()).isEqualTo(e.inputIds().length - 2 + 2 * 577);
        assertThat(e.imageSizes()[0]).containsExactly(90, 40);
        // The pixels are the pad-mode preprocessing of each image.
        var pad = TestData.anyres().preprocessor("pad");
        assertThat(e.images().get(1).pixelValues())
                .isEqualTo(pad.preprocess(ImageDecoder.defaults().decode(dir.resolve("b.png"))).pixelValues());

        ExampleBuilder flat = new ExampleBuilder(TestData.tokenizer(), 1, TestData.square(), 32768, false);
        assertThat(flat.build(r).mergedLength()).isEqualTo(e.inputIds().length - 2 + 2 * 576);
    }

    @Test
    void anImageWithoutPlaceholderIsComputedButNotSplicedAndMismatchesAreSkipped() throws Exception {
        Files.write(dir.resolve("a.png"), TestData.png(40, 40, 1));
        ExampleBuilder b = new ExampleBuilder(TestData.tokenizer(), 1, TestData.anyres(), 32768, false);
        TrainingExample e = b.build(record("nop", List.of("a.png"), dir, "Describe.", "Fine."));
        assertThat(e.textOnly()).isFalse();
        assertThat(e.placeholders()).isZero();
        assertThat(e.modalities()).containsExactly("image");
        assertThat(e.images()).hasSize(1);
        assertThat(e.images().get(0).tiles()).isGreaterThan(1); // the real image, not the dummy
        assertThat(e.mergedLength()).isEqualTo(e.inputIds().length);

        assertThatThrownBy(() -> b.build(record("two", List.of("a.png", "a.png"), dir, "<image>\nDescribe.", "x")))
                .isInstanceOfSatisfying(RecordSkipped.class, s -> assertThat(s.skip().reason())
                        .isEqualTo(DataReport.Reason.IMAGE_PLACEHOLDERS))
                .hasMessageContaining("has 2 images but 1 <image> placeholder in its conversation");
    }

    @Test
    void decoderLimitsAndUnexpectedFailuresBecomeSkips() throws Exception {
        Files.write(dir.resolve("big.png"), TestData.png(64, 64, 1));
        ExampleBuilder tight = new ExampleBuilder(TestData.tokenizer(), 1,
                TestData.square().withDecoder(ImageDecoder.defaults().withMaxPixels(100)), 32768, false);
        assertThatThrownBy(() -> tight.build(record("big", List.of("big.png"), dir, "<image>\nq", "a")))
                .isInstanceOfSatisfying(RecordSkipped.class, s -> assertThat(s.skip().reason())
                        .isEqualTo(DataReport.Reason.BAD_IMAGE))
                .hasMessageContaining("big.png");

        // A source that throws anything at all while reading: the loader counts a skip and goes on.
        Path ok = dir.resolve("ok.jsonl");
        TestData.write(ok, List.of(TestData.record("a", null, "q", "a"), TestData.record("b", null, "q", "b")));
        RecordSource good = JsonRecordFile.open(ok, dir);
        RecordSource exploding = new RecordSource() {
            @Override public String name() { return "exploding"; }
            @Override public int size() { return 2; }
            @Override public LlavaRecord read(int index) throws RecordSkipped {
                if (index == 0) throw new IllegalStateException("disk on fire");
                throw new StackOverflowError();
            }
        };
        DataMixture mixture = DataMixture.ofSources(List.of(exploding, good), 1);
        DataReport report = new DataReport();
        ExampleBuilder builder = new ExampleBuilder(TestData.tokenizer(), 1, null, 32768, false);
        try (DataLoader loader = new DataLoader(mixture, builder, new Collator(1, 32768), report, 2, false, false,
                false, 1, 2, 4)) {
            Batch batch = loader.batches(LoaderPosition.START).next();
            assertThat(batch.examples()).extracting(TrainingExample::id).containsExactly("a", "b");
        }
        assertThat(report.count(DataReport.Reason.BAD_RECORD)).isEqualTo(2);
        assertThat(report.examples(DataReport.Reason.BAD_RECORD).get(0).describe())
                .isEqualTo("exploding#0: could not be prepared: disk on fire");
        mixture.close();
    }

    @Test
    void trainingDataOpensAModelDirectoryWithItsImageSettingsAndFindsRecordsById() {
        Path train = Golden.resolve("train");
        DataOptions options = DataOptions.of(train.resolve("examples.json")).withImageFolder(Golden.resolve("images"));
        try (TrainingData td = TrainingData.open(Golden.resolve("model"), options)) {
            List<TrainingExample> ex = td.examplesById(List.of("a4_land640x480_single", "a1_sq336_single"));
            assertThat(ex).extracting(TrainingExample::mergedLength).containsExactly(2381, 1210);
            assertThatThrownBy(() -> td.examplesById(List.of("nope"))).isInstanceOf(DataException.class)
                    .hasMessageEndingWith("no record has id 'nope'");
        }
        // Stage 1's released data path: square / flat from the flags.
        try (TrainingData td = TrainingData.open(Golden.resolve("model"), options.withImageAspectRatio("square")
                .withMergeType("flat").withModelMaxLength(8192))) {
            assertThat(td.examplesById(List.of("a2_tall200x900_multiturn")).get(0).mergedLength()).isEqualTo(663);
        }
        assertThatThrownBy(() -> TrainingData.open(Golden.resolve("model"), options.withImageAspectRatio("wide")))
                .isInstanceOf(DataException.class).hasMessageContaining("--image-aspect-ratio 'wide' is not supported");
    }
}
