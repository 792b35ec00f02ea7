package io.instella.spark.train;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.testing.Golden;
import io.instella.spark.eval.TestSpark;
import io.instella.train.cli.TrainCommand;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.instella.spark.train.TrainRuns.assertClose;
import static io.instella.spark.train.TrainRuns.assertSameSteps;
import static io.instella.spark.train.TrainRuns.common;
import static io.instella.spark.train.TrainRuns.trained;
import static io.instella.spark.train.TrainRuns.with;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The equivalence of issue 17: 2 workers x micro-batch 1 train the same parameters in 3 steps (within 1e-6) as one
 * process with micro-batch 1 and gradient accumulation 2 over the same records, on {@code local[2]}.
 */
class DataParallelTrainingTest {
    static final List<String> PROJECTOR = List.of("model.mm_projector.0.weight", "model.mm_projector.0.bias",
            "model.mm_projector.2.weight", "model.mm_projector.2.bias");

    @TempDir
    static Path tmp;
    static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = TestSpark.local2();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    static Map<String, float[]> base(List<String> names) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (Checkpoint c = Checkpoint.open(Golden.resolve("model/model.safetensors"))) {
            for (String n : names) out.put(n, c.get(n).toFloatArray());
        }
        return out;
    }

    @Test
    void stageOneProjectorTwoWorkersEqualOneProcessWithAccumulationTwo() throws IOException {
        // Shuffled from the seed: the driver's loader deals the same permutation either way.
        List<String> flags = List.of("--mm-tunable-parts", "mm_mlp_adapter");
        int modelsBefore = ExecutorTrainers.created();
        TrainRuns.Run single = TrainRuns.train(new TrainCommand(),
                with(common(tmp.resolve("stage1-single"), flags.toArray(String[]::new)), "--gradient-accumulation-steps", "2"));
        assertThat(single.exit()).as(single.err()).isZero();
        TrainRuns.Run parallel = TrainRuns.train(new TrainJobCommand(),
                with(common(tmp.resolve("stage1-spark"), flags.toArray(String[]::new)), "--gradient-accumulation-steps", "1", "--workers", "2"));
        assertThat(parallel.err()).contains("2 ranks x 1 micro-batch(es) of 1 per step (global batch 2)");
        assertSameSteps(single, parallel);
        assertClose(trained(tmp.resolve("stage1-single"), PROJECTOR), trained(tmp.resolve("stage1-spark"), PROJECTOR), base(PROJECTOR), 1e-6);
        assertThat(spark.sparkContext().isStopped()).isFalse();
        assertThat(ExecutorTrainers.created() - modelsBefore).as("models built for 3 steps x 2 ranks: at most one per task slot")
                .isBetween(1, 2);
    }

    @Test
    void loraWithDropoutAndAProjectorAlsoAcrossAResume() throws IOException {
        // --adam-epsilon 1e-6: a few LoRA gradient elements are pure rounding noise (true value ~0; the float sums of
        // 2 ranks and of one accumulating process differ in the last bits), and AdamW's m / (sqrt(v) + eps) turns
        // noise of 1e-11 into a step of ~lr with eps 1e-8 (seen: 3.5e-6 apart after 3 steps). A wrong data split, seed
        // or scaling moves many values by ~lr (2e-3), far beyond 1e-6 either way.
        String[] flags = {"--mm-tunable-parts", "mm_mlp_adapter", "--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0.1",
                "--save-steps", "2", "--adam-epsilon", "1e-6"};
        TrainRuns.Run single = TrainRuns.train(new TrainCommand(), with(common(tmp.resolve("lora-single"), flags), "--gradient-accumulation-steps", "2"));
        assertThat(single.exit()).as(single.err()).isZero();
        List<String> parallelArgs = with(common(tmp.resolve("lora-spark"), flags), "--gradient-accumulation-steps", "1", "--workers", "2");
        TrainRuns.Run first = TrainRuns.train(new TrainJobCommand(), with(parallelArgs, "--stop-after-steps", "2"));
        assertThat(first.exit()).as(first.err()).isZero();
        assertThat(first.steps()).hasSize(2);
        assertThat(tmp.resolve("lora-spark/checkpoint-2/adapter_config.json")).as("the driver writes the checkpoints").exists();
        TrainRuns.Run rest = TrainRuns.train(new TrainJobCommand(), with(parallelArgs, "--resume-from-checkpoint", "latest"));
        assertThat(rest.exit()).as(rest.err()).isZero();
        assertThat(rest.err()).contains("resumed from");
        List<com.fasterxml.jackson.databind.JsonNode> joined = new java.util.ArrayList<>(first.steps());
        joined.addAll(rest.steps());
        assertSameSteps(single, new TrainRuns.Run(0, joined, rest.err()));
        Map<String, float[]> a = trained(tmp.resolve("lora-single"), List.of()), b = trained(tmp.resolve("lora-spark"), List.of());
        assertClose(a, b, Map.of(), 1e-6);
        assertThat(a.entrySet().stream().filter(e -> e.getKey().endsWith("lora_B"))
                .anyMatch(e -> { for (float v : e.getValue()) if (v != 0) return true; return false; })).as("B moved").isTrue();
        assertThat(Files.exists(tmp.resolve("lora-spark/model.safetensors"))).isFalse();
    }

    @Test
    void fullFineTuningOfASmallModel() throws IOException {
        String[] flags = {"--mm-tunable-parts", "mm_mlp_adapter,mm_language_model"};
        TrainRuns.Run single = TrainRuns.train(new TrainCommand(),
                with(common(tmp.resolve("full-single"), flags), "--max-steps", "2", "--gradient-accumulation-steps", "2"));
        assertThat(single.exit()).as(single.err()).isZero();
        TrainRuns.Run parallel = TrainRuns.train(new TrainJobCommand(),
                with(common(tmp.resolve("full-spark"), flags), "--max-steps", "2", "--gradient-accumulation-steps", "1", "--workers", "2"));
        assertSameSteps(single, parallel);
        List<String> names;
        try (Checkpoint c = Checkpoint.open(tmp.resolve("full-single/model.safetensors"))) {
            names = c.names().stream().filter(n -> n.contains("mm_projector") || n.startsWith("model.layers.") || n.contains("embed_tokens")).toList();
        }
        assertClose(trained(tmp.resolve("full-single"), names), trained(tmp.resolve("full-spark"), names), base(names), 1e-6);
    }
}
