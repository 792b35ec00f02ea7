package io.instella.spark;

import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.Serial;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Batch generation with executors in separate JVMs ({@code local-cluster[2,1,1024]}), as on a cluster, with one
 * executor killed in the middle of its task: Spark starts another, runs the task again, and the committed output
 * still has every input row exactly once, each with the CLI's greedy answer.
 */
class LocalClusterGenerationTest {
    static SparkSession spark;

    @BeforeAll
    static void start() throws Exception {
        spark = LocalCluster.start("LocalClusterGenerationTest");
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    @Test
    void anExecutorKilledMidJobIsReplacedAndEveryRowIsWrittenExactlyOnce(@TempDir Path tmp) throws Exception {
        // Text-only rows: images are covered on local[2]; here each executor is a cold one-core JVM.
        List<Row> rows = TestRows.rows(120, Integer.MAX_VALUE);
        Map<String, String> expected = TestRows.cliAnswers(rows);
        Path marker = tmp.resolve("killed-once");
        Dataset<Row> input = TestRows.frame(spark, rows, 4);
        // The first attempt of partition 1 halts its executor JVM after 10 of its rows have gone through the model
        // (and towards the task's output file).
        Dataset<Row> doomed = input.mapPartitions(new HaltOnce(marker.toString(), 1, 10), Encoders.row(input.schema()));
        Dataset<Row> answers = InstellaSpark.generate(doomed,
                GenerationJobOptions.forModel(TinyModel.dir().toString()).withMaxNewTokens(TestRows.MAX_NEW_TOKENS));

        String out = tmp.resolve("answers").toString();
        answers.write().json(out);

        assertThat(marker).as("an executor was killed").exists();
        TestRows.assertSameAnswers(spark.read().json(out).collectAsList(), expected);
    }

    /** Passes rows through; the first time partition {@code partition} reaches row {@code after}, it halts its JVM. */
    static final class HaltOnce implements MapPartitionsFunction<Row, Row> {
        @Serial
        private static final long serialVersionUID = 1L;
        private final String marker;
        private final int partition;
        private final int after;

        HaltOnce(String marker, int partition, int after) {
            this.marker = marker;
            this.partition = partition;
            this.after = after;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            boolean doomed = TaskContext.getPartitionId() == partition;
            return new Iterator<>() {
                int seen;

                @Override
                public boolean hasNext() {
                    return rows.hasNext();
                }

                @Override
                public Row next() {
                    if (doomed && ++seen > after) {
                        try {
                            Files.createFile(Path.of(marker));
                            Runtime.getRuntime().halt(137); // as a kill -9 or the OOM killer: no shutdown hooks
                        } catch (java.nio.file.FileAlreadyExistsException e) {
                            // killed once already: this is the retry
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    }
                    return rows.next();
                }
            };
        }
    }
}
