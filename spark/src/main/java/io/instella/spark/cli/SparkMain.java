package io.instella.spark.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * The Spark job's main class: {@code spark-submit --class io.instella.spark.cli.SparkMain instella-spark-job.jar
 * generate ...}, or {@code ./instella-spark generate ...} from a source checkout (in-process for a local master).
 *
 * <p>Exit codes: 0 done, 1 error (one line on stderr), 2 bad usage.
 */
@Command(name = "instella-spark", mixinStandardHelpOptions = true, version = "instella-spark 0.1.0",
        description = "Instella-VL on Apache Spark 4.2: batch generation over DataFrames of prompts and images, "
                + "distributed evaluation of the 14 benchmarks, data-parallel training.",
        footerHeading = "%nExamples:%n",
        footer = {"  instella-spark generate --master local[2] --model DIR \\",
                "      --input rows.jsonl --output answers/",
                "  spark-submit --master spark://host:7077 \\",
                "      --class io.instella.spark.cli.SparkMain \\",
                "      spark/target/instella-spark-job.jar generate \\",
                "      --model amd/Instella-VL-1B --input hdfs:///data/rows.parquet \\",
                "      --output hdfs:///data/answers.parquet",
                "",
                "Exit codes: 0 success, 1 error (one line on stderr), 2 bad usage."})
public final class SparkMain implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The command line with every job; a new job is one more {@code addSubcommand} line here. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new SparkMain());
        cl.addSubcommand(new GenerateJob());
        cl.addSubcommand(new io.instella.spark.eval.EvalJobCommand());
        cl.addSubcommand(new io.instella.spark.train.TrainJobCommand());
        cl.addSubcommand(new BenchJob());
        cl.addSubcommand(new CommandLine.HelpCommand());
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            err.println("instella-spark: error: " + JobFailures.message(e));
            err.flush();
            return 1;
        });
        return cl;
    }

    /** Runs a job in-process (tests use this) and returns the exit code. */
    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }
}
