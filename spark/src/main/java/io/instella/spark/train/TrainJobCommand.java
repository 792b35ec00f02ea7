package io.instella.spark.train;

import io.instella.spark.SparkSessions;
import io.instella.train.cli.TrainCommand;
import io.instella.train.run.TrainingRun;
import io.instella.train.run.TrainingSettings;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code train} on Spark: {@code instella train}'s options, data format, checkpoints and resume, with every optimizer
 * step's micro-batches spread over {@code --workers} ranks ({@link DataParallelGradients}). The global batch is
 * {@code --workers × --per-device-train-batch-size × --gradient-accumulation-steps}, as with DDP. The driver reads
 * the data, applies clipping and the optimizer once per step and writes the checkpoints and the final model; the
 * executors need the start checkpoint under the same path (a shared filesystem or the same copy on each node).
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Data-parallel training on a Spark application's executors: stage 1 (projector), LoRA, or full fine-tuning",
                "of small models. Same options, data, checkpoints and resume as 'instella train'."})
public class TrainJobCommand extends TrainCommand {
    @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: the one spark-submit set, else local[*]).")
    String master;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting (repeatable).")
    Map<String, String> conf = new LinkedHashMap<>();

    @Option(names = "--workers", paramLabel = "W",
            description = "Data-parallel ranks, one Spark task each per step (default: the application's default parallelism).")
    Integer workers;

    private SparkSessions.Started app;

    @Override
    protected TrainingRun newRun(TrainingSettings settings, PrintWriter out, PrintWriter err) {
        if (workers != null && workers < 1) throw new CommandLine.ParameterException(new CommandLine(this), "--workers must be at least 1");
        // Trained values are float noise to LZ4: compressing the broadcast cost 2-3x the CPU of the whole exchange
        // (spark/README.md, figures). Applies when this command starts the application; --conf can say otherwise.
        Map<String, String> sparkSettings = new LinkedHashMap<>(conf);
        sparkSettings.putIfAbsent("spark.broadcast.compress", "false");
        app = SparkSessions.start("instella train", master, sparkSettings, err);
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(app.spark().sparkContext());
        int w = workers != null ? workers : sc.defaultParallelism();
        DataParallelGradients gradients = new DataParallelGradients(sc, settings, w);
        err.printf("train: data-parallel on Spark %s: %d ranks x %d micro-batch(es) of %d per step (global batch %d)%n", sc.master(), w,
                settings.gradientAccumulation(), settings.batchSize(), w * settings.gradientAccumulation() * settings.batchSize());
        err.flush();
        return new TrainingRun(settings, out, err, gradients);
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
        System.exit(new CommandLine(new TrainJobCommand()).execute(args));
    }
}
