package io.instella.spark.eval;

import io.instella.spark.SparkSessions;
import io.instella.eval.cli.EvalCommand;
import io.instella.eval.run.EvalRunner;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code eval} on Spark: {@code instella eval}'s options and files (results.json, per-sample files, the results
 * table, resume journals), with the documents of each task answered by the executors. The driver reads the
 * documents' text, journals and scores; every executor reads the images of its documents from the same
 * {@code --data} root and loads the model once per JVM, so both must be reachable under the same path on every
 * node (a shared filesystem, or the same Hugging Face cache contents on each).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate on the lmms-eval benchmarks with the documents spread over a Spark application's executors.",
                "Same options and output files as 'instella eval'; the files are identical to a single-machine run's."})
public class EvalJobCommand extends EvalCommand {
    @Option(names = "--master", paramLabel = "URL",
            description = "Spark master (default: the one spark-submit set, else local[*]).")
    String master;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting (repeatable).")
    Map<String, String> conf = new LinkedHashMap<>();

    @Option(names = "--chunk", paramLabel = "N", defaultValue = "256",
            description = "Documents per Spark job; the resume journal is written after each (default: ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--slices", paramLabel = "N", defaultValue = "0",
            description = "Spark tasks per job (default 0: the application's default parallelism).")
    int slices;

    private SparkSessions.Started app;

    @Override
    protected Function<EvalRunner, EvalRunner.Outcome> prepare(EvalRunner.Options options, PrintWriter err) {
        if (chunk < 1) throw new CommandLine.ParameterException(new CommandLine(this), "--chunk must be at least 1");
        // Executors do not share the driver's working directory: send them absolute paths.
        Path local = Path.of(options.model());
        String model = Files.exists(local) ? local.toAbsolutePath().toString() : options.model();
        app = SparkSessions.start("instella eval", master, conf, err);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(app.spark().sparkContext());
        DistributedEval generator = new DistributedEval(sc, model, options.dataRoot(), options.popeMetric(), slices);
        err.println("eval: answering on Spark " + sc.master() + " (" + (slices > 0 ? slices : sc.defaultParallelism())
                + " tasks per job, " + chunk + " documents per job)");
        err.flush();
        return runner -> runner.run(generator, chunk);
    }

    @Override
    public Integer call() throws Exception {
        try {
            return super.call();
        } finally {
            if (app != null) app.close();
            app = null;
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new EvalJobCommand()).execute(args));
    }
}
