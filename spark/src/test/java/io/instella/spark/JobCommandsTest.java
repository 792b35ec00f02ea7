package io.instella.spark;

import io.instella.spark.eval.EvalJobCommand;
import io.instella.spark.train.TrainJobCommand;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.assertj.core.api.Assertions.assertThat;

/** The job commands carry the single-machine commands' options and their own (no Spark started). */
class JobCommandsTest {
    @Test
    void evalJobHasInstellaEvalsOptionsAndSparksOwn() {
        CommandLine cl = new CommandLine(new EvalJobCommand());
        assertThat(cl.getCommandName()).isEqualTo("eval");
        String usage = cl.getUsageMessage();
        assertThat(usage).contains("--tasks", "--limit", "--output", "--data", "--pope-metric", "--master", "--conf", "--chunk");
        assertThat(cl.getSubcommands()).containsKey("score");
    }

    @Test
    void trainJobHasInstellaTrainsOptionsAndSparksOwn() {
        CommandLine cl = new CommandLine(new TrainJobCommand());
        assertThat(cl.getCommandName()).isEqualTo("train");
        assertThat(cl.getUsageMessage()).contains("--stage", "--lora-r", "--gradient-accumulation-steps", "--resume-from-checkpoint",
                "--master", "--workers");
    }
}
