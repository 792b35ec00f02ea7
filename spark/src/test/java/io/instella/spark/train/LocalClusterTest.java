package io.instella.spark.train;

import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.eval.data.ParquetFixtures;
import io.instella.eval.run.EvalRunner;
import io.instella.eval.run.InstellaEvalModel;
import io.instella.model.random.RandomCheckpoint;
import io.instella.spark.eval.DistributedEval;
import io.instella.spark.eval.EvalOutputs;
import io.instella.spark.eval.TestSpark;
import io.instella.train.cli.TrainCommand;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static io.instella.spark.train.TrainRuns.assertClose;
import static io.instella.spark.train.TrainRuns.assertSameSteps;
import static io.instella.spark.train.TrainRuns.common;
import static io.instella.spark.train.TrainRuns.trained;
import static io.instella.spark.train.TrainRuns.with;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Distributed evaluation and data-parallel training with executors in two separate JVMs ({@code local-cluster[2,1,1024]},
 * as on a cluster: models loaded there, values and gradients serialized between the JVMs).
 */
class LocalClusterTest {
    @TempDir
    static Path tmp;
    static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = TestSpark.localCluster();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    @Test
    void stageOneOnTwoExecutorJvmsEqualsOneProcessWithAccumulationTwo() throws IOException {
        TrainRuns.Run single = TrainRuns.train(new TrainCommand(),
                with(common(tmp.resolve("single"), "--mm-tunable-parts", "mm_mlp_adapter"), "--gradient-accumulation-steps", "2"));
        assertThat(single.exit()).as(single.err()).isZero();
        TrainRuns.Run parallel = TrainRuns.train(new TrainJobCommand(), with(common(tmp.resolve("spark"), "--mm-tunable-parts", "mm_mlp_adapter"),
                "--gradient-accumulation-steps", "1", "--workers", "2"));
        assertThat(parallel.err()).contains("local-cluster[2,1,1024]");
        assertSameSteps(single, parallel);
        assertClose(trained(tmp.resolve("single"), DataParallelTrainingTest.PROJECTOR), trained(tmp.resolve("spark"), DataParallelTrainingTest.PROJECTOR),
                DataParallelTrainingTest.base(DataParallelTrainingTest.PROJECTOR), 1e-6);
    }

    @Test
    void evaluationOnTwoExecutorJvmsWritesTheSingleMachineFiles() throws IOException {
        Path data = ParquetFixtures.writeAll(tmp.resolve("data")), model = tmp.resolve("model");
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, model, Golden.resolve("model/tokenizer.json"), 11, DType.BF16);
        List<String> tasks = List.of("gqa", "mmmu_val");
        EvalRunner.Outcome single;
        try (InstellaEvalModel engine = InstellaEvalModel.open(model)) {
            single = EvalOutputs.runner(EvalOutputs.options(model.toString(), tasks, 3, tmp.resolve("eval-single"), data)).run(engine);
        }
        EvalRunner.Outcome distributed = EvalOutputs.runner(EvalOutputs.options(model.toString(), tasks, 3, tmp.resolve("eval-spark"), data))
                .run(new DistributedEval(TestSpark.context(spark), model.toString(), data, "pope_f1_score", 2), 4);
        assertThat(distributed.table()).isEqualTo(single.table());
        EvalOutputs.assertSameFiles(tmp.resolve("eval-single"), tmp.resolve("eval-spark"));
    }
}
