package io.instella.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.apache.spark.sql.functions.col;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Batch generation on {@code local[2]}: answers, error rows, image sources, seeds. One session for the class. */
class LocalGenerationTest {
    static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("LocalGenerationTest")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    private static GenerationJobOptions options() {
        return GenerationJobOptions.forModel(TinyModel.dir().toString()).withMaxNewTokens(TestRows.MAX_NEW_TOKENS);
    }

    @Test
    void aBatchOfRowsGetsTheCliGreedyAnswersRowByRow() {
        List<Row> rows = TestRows.rows(200, 50);
        Map<String, String> expected = TestRows.cliAnswers(rows);
        Dataset<Row> out = InstellaSpark.generate(TestRows.frame(spark, rows, 3), options());

        List<Row> collected = out.collectAsList();
        TestRows.assertSameAnswers(collected, expected);
        assertThat(new java.util.HashSet<>(expected.values())).as("the rows have different answers").hasSizeGreaterThan(5);
        for (Row r : collected) {
            assertThat((String) r.getAs(InstellaSpark.FINISH_REASON)).isIn("stop", "length");
            assertThat((Integer) r.getAs(InstellaSpark.COMPLETION_TOKENS)).isBetween(0, TestRows.MAX_NEW_TOKENS);
            int imageTokens = r.getAs("image") == null ? 0 : 576; // an image is at least its 576-token base tile
            assertThat((Integer) r.getAs(InstellaSpark.PROMPT_TOKENS)).isGreaterThan(imageTokens);
            assertThat((Double) r.getAs(InstellaSpark.GENERATE_MS)).isGreaterThanOrEqualTo((Double) r.getAs(InstellaSpark.TTFT_MS));
        }
    }

    @Test
    void badRowsGetAnErrorAndTheJobGoesOn(@TempDir Path tmp) throws Exception {
        Path images = TinyModel.images();
        String longPrompt = "word ".repeat(40_000);
        StructType schema = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
                .add("image", DataTypes.StringType);
        List<Row> rows = List.of(
                RowFactory.create("ok", "Question 1: What is shown here?", null),
                RowFactory.create("missing", "What is this?", tmp.resolve("no-such.png").toString()),
                RowFactory.create("broken", "What is this?", images.resolve("broken.png").toString()),
                RowFactory.create("directory", "What is this?", tmp.toString()),
                RowFactory.create("too-long", longPrompt, null),
                RowFactory.create("no-prompt", null, null),
                RowFactory.create("placeholders", "<image> <image> two placeholders, one image", images.resolve("a.png").toString()),
                RowFactory.create("ok-image", "What is shown here?", images.resolve("a.png").toString()));
        Map<String, Row> out = byId(InstellaSpark.generate(spark.createDataFrame(rows, schema).repartition(2), options()));

        assertThat(out).hasSize(rows.size());
        assertThat((String) out.get("ok").getAs("answer")).isEqualTo(TinyModel.cliAnswer("Question 1: What is shown here?", null, TestRows.MAX_NEW_TOKENS));
        assertThat((String) out.get("ok-image").getAs("answer"))
                .isEqualTo(TinyModel.cliAnswer("What is shown here?", images.resolve("a.png"), TestRows.MAX_NEW_TOKENS));
        assertError(out.get("missing"), "image file not found", "no-such.png");
        assertError(out.get("broken"), "broken.png", "not a supported image format");
        assertError(out.get("directory"), "is a directory");
        assertError(out.get("too-long"), "longer than the context");
        assertError(out.get("no-prompt"), "prompt", "is null");
        assertError(out.get("placeholders"), "placeholder");
    }

    private static void assertError(Row row, String... fragments) {
        String error = row.getAs(InstellaSpark.ERROR);
        assertThat(error).as("error of row %s", row).isNotNull();
        for (String f : fragments) assertThat(error).containsIgnoringCase(f);
        assertThat(error).doesNotContain("Exception").doesNotContain("java.");
        assertThat((String) row.getAs(InstellaSpark.ANSWER)).isNull();
    }

    @Test
    void imagesFromSparksBinaryFileSource() {
        Path images = TinyModel.images();
        Dataset<Row> files = spark.read().format("binaryFile").load(images.toString());
        Dataset<Row> out = InstellaSpark.generate(files, options().withPrompt("Describe this image."));
        Map<String, Row> byPath = new HashMap<>();
        for (Row r : out.drop("content").collectAsList()) byPath.put(Path.of(java.net.URI.create(r.getAs("path"))).getFileName().toString(), r);

        assertThat(byPath.keySet()).containsExactlyInAnyOrder("a.png", "b.png", "broken.png");
        for (String name : List.of("a.png", "b.png")) {
            assertThat((String) byPath.get(name).getAs("answer"))
                    .isEqualTo(TinyModel.cliAnswer("Describe this image.", images.resolve(name), TestRows.MAX_NEW_TOKENS));
        }
        assertError(byPath.get("broken.png"), "not a supported image format");
    }

    @Test
    void imagesFromParquetAsHuggingFaceStructsOrPlainBytes(@TempDir Path tmp) throws Exception {
        Path images = TinyModel.images();
        byte[] a = Files.readAllBytes(images.resolve("a.png"));
        byte[] b = Files.readAllBytes(images.resolve("b.png"));
        StructType imageStruct = new StructType().add("bytes", DataTypes.BinaryType).add("path", DataTypes.StringType);
        StructType schema = new StructType().add("id", DataTypes.StringType).add("question", DataTypes.StringType)
                .add("image", imageStruct).add("raw", DataTypes.BinaryType);
        List<Row> rows = List.of(
                RowFactory.create("a", "What is shown here?", RowFactory.create(a, "a.png"), a),
                // Hugging Face datasets keep a path instead of bytes for files left on disk: read from the path.
                RowFactory.create("b", "What is shown here?", RowFactory.create(null, images.resolve("b.png").toString()), b),
                RowFactory.create("text", "Question 5: What is shown here?", null, null));
        String parquet = tmp.resolve("in.parquet").toString();
        spark.createDataFrame(rows, schema).write().parquet(parquet);

        GenerationJobOptions o = options().withPromptColumn("question");
        Map<String, Row> fromStruct = byId(InstellaSpark.generate(spark.read().parquet(parquet), o));
        Map<String, Row> fromBytes = byId(InstellaSpark.generate(spark.read().parquet(parquet).drop("image"), o.withImageColumn("raw")));

        for (Map<String, Row> out : List.of(fromStruct, fromBytes)) {
            assertThat((String) out.get("a").getAs("answer")).isEqualTo(TinyModel.cliAnswer("What is shown here?", images.resolve("a.png"), TestRows.MAX_NEW_TOKENS));
            assertThat((String) out.get("b").getAs("answer")).isEqualTo(TinyModel.cliAnswer("What is shown here?", images.resolve("b.png"), TestRows.MAX_NEW_TOKENS));
            assertThat((String) out.get("text").getAs("answer")).isEqualTo(TinyModel.cliAnswer("Question 5: What is shown here?", null, TestRows.MAX_NEW_TOKENS));
        }
    }

    @Test
    void samplingSeedsEachRowSoPartitioningDoesNotChangeAnswers() {
        StructType schema = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
                .add("seed", DataTypes.LongType);
        List<Row> rows = new java.util.ArrayList<>();
        for (int i = 0; i < 12; i++) rows.add(RowFactory.create("s" + i, "Tell me a story.", i < 2 ? 7L : null));
        GenerationJobOptions o = options().withMaxNewTokens(6).withTemperature(1.0).withSeed(3);
        Dataset<Row> df = spark.createDataFrame(rows, schema);

        Map<String, Row> one = byId(InstellaSpark.generate(df.repartition(1), o.withSeedColumn("seed")));
        Map<String, Row> three = byId(InstellaSpark.generate(df.repartition(3), o.withSeedColumn("seed")));
        Map<String, Row> otherBase = byId(InstellaSpark.generate(df.repartition(2), o.withSeed(4).withSeedColumn("seed")));

        for (Row r : rows) {
            String id = r.getString(0);
            assertThat((String) three.get(id).getAs("answer")).as(id).isEqualTo(one.get(id).getAs("answer"));
        }
        // Same prompt, same seed column value: same answer; the rows seeded by their ids differ from each other.
        assertThat((String) one.get("s0").getAs("answer")).isEqualTo(one.get("s1").getAs("answer"));
        assertThat(rows.stream().skip(2).map(r -> (String) one.get(r.getString(0)).getAs("answer")).distinct().count()).isGreaterThan(3);
        // The base seed changes the id-seeded rows, not the ones with a seed of their own.
        assertThat((String) otherBase.get("s0").getAs("answer")).isEqualTo(one.get("s0").getAs("answer"));
        assertThat(rows.stream().skip(2).filter(r -> !one.get(r.getString(0)).getAs("answer")
                .equals(otherBase.get(r.getString(0)).getAs("answer"))).count()).isGreaterThan(3);
    }

    @Test
    void wrongColumnsAreRefusedBeforeAnyWork() {
        Dataset<Row> df = spark.createDataFrame(TestRows.rows(2, 100), TestRows.SCHEMA);
        assertThatThrownBy(() -> InstellaSpark.generate(df, options().withPromptColumn("question")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no prompt column 'question'").hasMessageContaining("id, prompt, image");
        assertThatThrownBy(() -> InstellaSpark.generate(df.withColumn("answer", col("prompt")), options()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("already has a column named 'answer'");
        assertThatThrownBy(() -> InstellaSpark.generate(df.withColumn("image", col("id").cast("int")), options()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("image column 'image' is int");
        assertThatThrownBy(() -> InstellaSpark.generate(df, options().withSeedColumn("prompt")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("whole number");
    }

    static Map<String, Row> byId(Dataset<Row> out) {
        Map<String, Row> m = new HashMap<>();
        for (Row r : out.collectAsList()) {
            assertThat(m.put(String.valueOf((Object) r.getAs("id")), r)).as("row %s once", (Object) r.getAs("id")).isNull();
        }
        return m;
    }
}
