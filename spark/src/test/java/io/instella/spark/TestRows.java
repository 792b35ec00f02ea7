package io.instella.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The batch the generation tests answer: a few hundred questions, a few of them about images (by path). */
public final class TestRows {
    /** Answer length of the batch tests: short answers keep hundreds of rows fast on the tiny model. */
    public static final int MAX_NEW_TOKENS = 4;

    private static final String[] QUESTIONS = {"What is shown here?", "Describe the scene in a few words.",
            "What colour dominates?", "Name one object you can see.", "Is this indoors or outdoors?", "Count the shapes."};

    public static final StructType SCHEMA = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
            .add("image", DataTypes.StringType);

    private TestRows() {
    }

    /** {@code count} rows (id, prompt, image path or null); every {@code imageEvery}-th row has an image. */
    public static List<Row> rows(int count, int imageEvery) {
        Path images = TinyModel.images();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String image = i % imageEvery == 0 ? images.resolve(i / imageEvery % 2 == 0 ? "a.png" : "b.png").toString() : null;
            rows.add(RowFactory.create("r" + i, "Question " + i + ": " + QUESTIONS[i % QUESTIONS.length], image));
        }
        return rows;
    }

    public static Dataset<Row> frame(SparkSession spark, List<Row> rows, int partitions) {
        return spark.createDataFrame(rows, SCHEMA).repartition(partitions);
    }

    /** The CLI's greedy answer for each row, by id. */
    public static Map<String, String> cliAnswers(List<Row> rows) {
        Map<String, String> expected = new HashMap<>();
        for (Row r : rows) {
            String image = r.getString(2);
            expected.put(r.getString(0), TinyModel.cliAnswer(r.getString(1), image == null ? null : Path.of(image), MAX_NEW_TOKENS));
        }
        return expected;
    }

    /** Every input row exactly once in {@code out}, answered (no error), with the CLI's answer. */
    public static void assertSameAnswers(List<Row> out, Map<String, String> expected) {
        Map<String, String> got = new HashMap<>();
        List<String> ids = new ArrayList<>();
        for (Row r : out) {
            String id = r.getAs("id");
            ids.add(id);
            // Read back from JSON, a column that is null in every row is not there at all.
            if (List.of(r.schema().fieldNames()).contains(InstellaSpark.ERROR)) {
                assertThat((String) r.getAs(InstellaSpark.ERROR)).as("error of row %s", id).isNull();
            }
            got.put(id, r.getAs(InstellaSpark.ANSWER));
        }
        assertThat(ids).as("every row exactly once").hasSize(expected.size()).doesNotHaveDuplicates();
        assertThat(got).containsExactlyInAnyOrderEntriesOf(expected);
    }
}
