package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Records that cannot be used are counted and skipped with a clear reason, or stop the run under --strict-data. */
class BadDataTest {
    @TempDir
    Path dir;

    private Path data;

    private void writeData() throws Exception {
        Files.write(dir.resolve("ok.png"), TestData.png(40, 30, 1));
        byte[] full = TestData.png(64, 48, 2);
        Files.write(dir.resolve("trunc.png"), Arrays.copyOf(full, full.length / 2));
        String longAnswer = "word ".repeat(800).trim();
        data = dir.resolve("train.jsonl");
        TestData.write(data, List.of(
                TestData.record("ok", "ok.png", "What is it?", "Stripes."),                              // line 1
                TestData.record("missing", "nope.png", "What is it?", "Nothing."),                       // line 2
                TestData.record("truncated", "trunc.png", "What is it?", "Half."),                       // line 3
                "{\"id\": \"broken\", \"conversations\": [",                                             // line 4
                "",                                                                                      // line 5
                "{\"id\": \"empty\", \"conversations\": []}",                                            // line 6
                TestData.record("long", null, "Say it many times.", longAnswer),                         // line 7
                TestData.record("text", null, "What is 1 + 1?", "2."),                                   // line 8
                "{\"id\": 9, \"conversations\": [{\"from\": \"user\", \"value\": \"hi\"}]}",           // line 9
                TestData.record("noimage", null, "Look: <image>", "Where?")));                           // line 10
    }

    private TrainingData open(boolean strict) throws Exception {
        writeData();
        DataOptions options = DataOptions.of(data).withImageFolder(dir).withModelMaxLength(700).withShuffle(false)
                .withBatchSize(1).withThreads(2).withStrict(strict);
        return TrainingData.open(options, TestData.tokenizer(), 1, TestData.square(), new DataReport());
    }

    @Test
    void badRecordsAreCountedAndSkippedWithTheirLineAndReason() throws Exception {
        try (TrainingData td = open(false)) {
            assertThat(td.recordsPerEpoch()).isEqualTo(9); // the blank line is not a record
            var it = td.loader().batches(LoaderPosition.START);
            List<String> ids = new ArrayList<>();
            ids.add(it.next().examples().get(0).id());
            ids.add(it.next().examples().get(0).id());
            assertThat(ids).containsExactly("ok", "text");
            assertThat(it.position()).isEqualTo(new LoaderPosition(0, 2, 7));
            // Finish the epoch: the remaining two records are bad, so the next batch comes from epoch 1.
            assertThat(it.next().examples().get(0).id()).isEqualTo("ok");
            assertThat(it.position().epoch()).isEqualTo(1);

            DataReport r = td.report();
            assertThat(r.count(DataReport.Reason.MISSING_IMAGE)).isEqualTo(1);
            assertThat(r.count(DataReport.Reason.BAD_IMAGE)).isEqualTo(1);
            assertThat(r.count(DataReport.Reason.MALFORMED_JSON)).isEqualTo(1);
            assertThat(r.count(DataReport.Reason.EMPTY_CONVERSATION)).isEqualTo(1);
            assertThat(r.count(DataReport.Reason.TOO_LONG)).isEqualTo(1);
            assertThat(r.count(DataReport.Reason.BAD_ROLE)).isEqualTo(1);
            assertThat(r.count(DataReport.Reason.IMAGE_PLACEHOLDERS)).isEqualTo(1);
            assertThat(r.skippedCount()).isEqualTo(7);
            assertThat(r.usedCount()).isEqualTo(3);

            String file = data.toString();
            assertThat(r.examples(DataReport.Reason.MISSING_IMAGE).get(0).describe())
                    .isEqualTo(file + ":2 (id missing): image 'nope.png' not found at " + dir.resolve("nope.png")
                            + " (check --image-folder)");
            assertThat(r.examples(DataReport.Reason.BAD_IMAGE).get(0).describe())
                    .startsWith(file + ":3 (id truncated): image cannot be decoded: ");
            assertThat(r.examples(DataReport.Reason.MALFORMED_JSON).get(0).describe())
                    .startsWith(file + ":4: not valid JSON");
            assertThat(r.examples(DataReport.Reason.EMPTY_CONVERSATION).get(0).describe())
                    .isEqualTo(file + ":6 (id empty): \"conversations\" is empty");
            assertThat(r.examples(DataReport.Reason.TOO_LONG).get(0).message())
                    .matches("is \\d+ tokens long \\(text plus image rows\\), more than --model-max-length 700; "
                            + "raise --model-max-length or let long records be truncated.*");
            assertThat(r.examples(DataReport.Reason.BAD_ROLE).get(0).describe())
                    .isEqualTo(file + ":9 (id 9): message 1 is from 'user'; only \"human\" and \"gpt\" are allowed");
            assertThat(r.summary()).startsWith("data: 3 records used, 7 skipped (1 malformed JSON, ");

            Map<String, Object> map = r.toMap();
            assertThat(map).containsEntry("skipped", 7L).containsEntry("used", 3L);
            assertThat(DataReport.restore(map).toMap()).isEqualTo(map);
        }
    }

    @Test
    void strictDataStopsAtTheFirstBadRecordWithTheSameMessage() throws Exception {
        String expected;
        try (TrainingData td = open(false)) {
            var it = td.loader().batches(LoaderPosition.START);
            it.next();
            it.next();
            expected = td.report().examples(DataReport.Reason.MISSING_IMAGE).get(0).describe();
        }
        try (TrainingData td = open(true)) {
            var it = td.loader().batches(LoaderPosition.START);
            assertThat(it.next().examples().get(0).id()).isEqualTo("ok");
            assertThatThrownBy(it::next).isInstanceOf(DataException.class)
                    .hasMessage(expected + " (--strict-data stops at the first bad record)");
        }
    }

    @Test
    void truncateKeepsLongRecordsAsUpstreamDoes() throws Exception {
        writeData();
        DataOptions options = DataOptions.of(data).withImageFolder(dir).withModelMaxLength(700).withShuffle(false)
                .withTruncate(true);
        try (TrainingData td = TrainingData.open(options, TestData.tokenizer(), 1, TestData.square(), null)) {
            var it = td.loader().batches(LoaderPosition.START);
            it.next();
            Batch longOne = it.next();
            assertThat(longOne.examples().get(0).id()).isEqualTo("long");
            assertThat(longOne.inputIds()[0]).hasSize(700);
            assertThat(longOne.examples().get(0).labels()).hasSize(700);
        }
    }

    @Test
    void aMalformedJsonArrayStopsWithAClearMessage() throws Exception {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "[{\"id\": 1, \"conversations\": []}, {\"id\": ");
        assertThatThrownBy(() -> DataMixture.open(bad, dir, 42)).isInstanceOf(DataException.class)
                .hasMessageStartingWith(bad + ": not valid JSON");
        Path obj = dir.resolve("obj.json");
        Files.writeString(obj, "{\"id\": 1}");
        assertThatThrownBy(() -> DataMixture.open(obj, dir, 42)).hasMessageContaining("expected a JSON array")
                .hasMessageContaining(".jsonl");
    }

    @Test
    void anImageRecordInATextOnlyRunIsSkipped() throws Exception {
        writeData();
        DataOptions options = DataOptions.of(data).withImageFolder(dir).withShuffle(false);
        try (TrainingData td = TrainingData.open(options, TestData.tokenizer(), 1, null, null)) {
            Batch b = td.loader().batches(LoaderPosition.START).next();
            assertThat(b.examples().get(0).id()).isEqualTo("long");
            assertThat(b.examples().get(0).images()).isEmpty();
            assertThat(td.report().count(DataReport.Reason.IMAGE_IN_TEXT_ONLY_RUN)).isEqualTo(3);
        }
    }
}
