package io.instella.eval.cli;

import io.instella.eval.data.DatasetFiles;
import io.instella.eval.data.ParquetDataset;
import io.instella.eval.run.EvalModel;
import io.instella.eval.run.EvalModelLoader;
import io.instella.eval.run.EvalRunner;
import io.instella.eval.score.Scorer;
import io.instella.eval.tasks.EvalInputException;
import io.instella.eval.tasks.Tasks;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * {@code instella eval --model M --tasks a,b,... [--limit N] [--output DIR] [--data DIR]}: runs the lmms-eval
 * benchmarks of the Instella-VL-1B table; subcommand {@code score} re-scores saved predictions without a model.
 * The model backend is supplied by whoever registers this command ({@link EvalModelLoader}).
 */
@Command(name = "eval", mixinStandardHelpOptions = true, subcommands = {ScoreCommand.class},
        description = "Evaluate on the lmms-eval benchmarks of the Instella-VL-1B table (resumable).")
public class EvalCommand implements Callable<Integer> {
    static final int EXIT_FAILURE = 1;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "M", description = "Model checkpoint directory (or hub id) to evaluate.")
    String model;

    @Option(names = "--tasks", paramLabel = "a,b,...", split = ",",
            description = "Tasks to run, in this order (default: all 14: ${DEFAULT-VALUE}).",
            defaultValue = "gqa,scienceqa_img,pope,mmbench_en_dev,seedbench,mmmu_val,realworldqa,mmstar,ocrbench,textvqa_val,ai2d,chartqa,docvqa_val,infovqa_val")
    List<String> tasks;

    @Option(names = "--limit", paramLabel = "N", description = "Only the first N documents of each task (smoke runs).")
    Integer limit;

    @Option(names = "--output", paramLabel = "DIR", defaultValue = "logs",
            description = "Output directory (results, samples, resume journals). Default: ${DEFAULT-VALUE}.")
    Path output;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Datasets root: a Hugging Face hub cache or a directory <org>/<name>/ of dataset repos "
                    + "(default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub).")
    Path data;

    @Option(names = "--emulate-world-size", paramLabel = "N", defaultValue = "1",
            description = "Score as an lmms-eval run with N processes (Instella's published numbers: 8; affects RealWorldQA). "
                    + "Default: ${DEFAULT-VALUE}.")
    int worldSize;

    @Option(names = "--pope-metric", paramLabel = "M", defaultValue = "pope_f1_score",
            description = "POPE column of the table: pope_f1_score or pope_accuracy (which one Instella reported is not known). "
                    + "Default: ${DEFAULT-VALUE}.")
    String popeMetric;

    private final EvalModelLoader loader;

    /** Without a model backend: only {@code eval score} works. */
    public EvalCommand() {
        this(null);
    }

    public EvalCommand(EvalModelLoader loader) {
        this.loader = loader;
    }

    /**
     * Gets the generation ready (here: loads the model) and says how the runner is to run; null after reporting why
     * it cannot. A subclass may generate elsewhere, e.g. spread over a cluster ({@link EvalRunner#run(EvalRunner.BatchGenerator, int)}).
     */
    protected Function<EvalRunner, EvalRunner.Outcome> prepare(EvalRunner.Options options, PrintWriter err) throws Exception {
        if (loader == null) {
            err.println("instella: error: this build has no model backend for 'instella eval --model'; use 'instella eval score' to score saved predictions");
            err.flush();
            return null;
        }
        // A model that cannot be loaded is reported by the CLI's one failure handler (its message names the file).
        EvalModel evalModel = loader.load(options.model());
        return runner -> runner.run(evalModel);
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        if (model == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--model=M' (or use 'eval score')");
        }
        List<String> taskList = new ArrayList<>(new LinkedHashSet<>(tasks));
        for (String t : taskList) {
            if (!Tasks.names().contains(t)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "unknown task '" + t + "'; known tasks: " + String.join(", ", Tasks.names()));
            }
        }
        if (limit != null && limit < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--limit must be at least 1");
        if (worldSize < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--emulate-world-size must be at least 1");
        if (!popeMetric.equals("pope_f1_score") && !popeMetric.equals("pope_accuracy")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--pope-metric must be pope_f1_score or pope_accuracy");
        }
        EvalRunner.Options options = new EvalRunner.Options(model, taskList, limit, output,
                data != null ? data : DatasetFiles.defaultRoot(), worldSize, popeMetric);
        Function<EvalRunner, EvalRunner.Outcome> generation = prepare(options, err);
        if (generation == null) return EXIT_FAILURE;
        try {
            generation.apply(new EvalRunner(options, spec.commandLine().getOut(), err, Clock.systemUTC(), System.console() != null));
            return 0;
        } catch (DatasetFiles.DatasetNotFoundException | ParquetDataset.DatasetReadException | IllegalStateException
                 | UncheckedIOException | EvalInputException | Scorer.InputError e) {
            err.println("instella: error: " + e.getMessage());
            err.flush();
            return EXIT_FAILURE;
        }
    }
}
