package io.instella.spark.eval;

import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.eval.cli.EvalCommand;
import io.instella.eval.data.ParquetFixtures;
import io.instella.eval.run.EvalRunner;
import io.instella.eval.run.InstellaEvalModel;
import io.instella.model.random.RandomCheckpoint;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Distributed evaluation on {@code local[2]} gives the single-machine run's files byte for byte (timings aside), on
 * the eval module's generated datasets with a tiny random model of the real structure.
 */
class DistributedEvalTest {
    /** Tasks with short answers (16-32 new tokens) covering external images (GQA), several images (MMMU) and ANLS (DocVQA). */
    static final List<String> TASKS = List.of("gqa", "mmmu_val", "docvqa_val");

    @TempDir
    static Path tmp;
    static Path data, model;
    static SparkSession spark;

    @BeforeAll
    static void start() throws IOException {
        data = ParquetFixtures.writeAll(tmp.resolve("data"));
        model = tmp.resolve("model");
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, model, Golden.resolve("model/tokenizer.json"), 11, DType.BF16);
        spark = TestSpark.local2();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    @Test
    void spreadOverTwoTaskSlotsTheFilesAreThoseOfOneMachine() throws IOException {
        EvalRunner.Options options = EvalOutputs.options(model.toString(), TASKS, 3, tmp.resolve("single"), data);
        EvalRunner.Outcome single;
        try (InstellaEvalModel engine = InstellaEvalModel.open(model)) {
            single = EvalOutputs.runner(options).run(engine);
        }
        EvalRunner.Options distributedOptions = EvalOutputs.options(model.toString(), TASKS, 3, tmp.resolve("spark"), data);
        // Chunks of 2 documents over 2 slices: two Spark jobs per task, the second one document on one slice.
        EvalRunner.Outcome distributed = EvalOutputs.runner(distributedOptions)
                .run(new DistributedEval(TestSpark.context(spark), model.toString(), data, "pope_f1_score", 2), 2);

        assertThat(distributed.table()).isEqualTo(single.table());
        EvalOutputs.assertSameFiles(tmp.resolve("single"), tmp.resolve("spark"));
        assertThat(EvalExecutorModels.loadedCount()).as("one model in this JVM for both task slots").isEqualTo(1);
    }

    @Test
    void theJobCommandWritesWhatInstellaEvalWrites() throws IOException {
        List<String> args = List.of("--model", model.toString(), "--tasks", "chartqa,realworldqa", "--limit", "2", "--data", data.toString());
        StringWriter err1 = new StringWriter(), out1 = new StringWriter();
        CommandLine single = new CommandLine(new EvalCommand(m -> InstellaEvalModel.open(Path.of(m))));
        single.setErr(new PrintWriter(err1));
        single.setOut(new PrintWriter(out1));
        assertThat(single.execute(concat(args, "--output", tmp.resolve("cli-single").toString()))).as(err1.toString()).isZero();

        StringWriter err2 = new StringWriter(), out2 = new StringWriter();
        CommandLine job = new CommandLine(new EvalJobCommand());
        job.setErr(new PrintWriter(err2));
        job.setOut(new PrintWriter(out2));
        assertThat(job.execute(concat(args, "--output", tmp.resolve("cli-spark").toString(), "--chunk", "1"))).as(err2.toString()).isZero();
        assertThat(err2.toString()).contains("answering on Spark local[2]");
        assertThat(spark.sparkContext().isStopped()).as("the job leaves a running application alone").isFalse();

        EvalOutputs.assertSameFiles(tmp.resolve("cli-single"), tmp.resolve("cli-spark"));
        assertThat(EvalOutputs.tableOf(out2.toString())).isEqualTo(EvalOutputs.tableOf(out1.toString())).contains("| ChartQA");
    }

    private static String[] concat(List<String> a, String... more) {
        List<String> all = new java.util.ArrayList<>(a);
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }
}
