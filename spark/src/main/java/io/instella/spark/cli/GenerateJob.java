package io.instella.spark.cli;

import io.instella.spark.SparkSessions;
import io.instella.spark.ExecutorModels;
import io.instella.spark.GenerationJobOptions;
import io.instella.spark.InstellaSpark;
import io.instella.spark.generate.RowPlan;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import static org.apache.spark.sql.functions.col;

/**
 * {@code instella-spark generate}: answers every row of a JSON-lines, Parquet or image-folder input and writes the
 * answers as JSON lines or Parquet through Spark's writers (part files under the output directory).
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Answer every row of a JSON-lines, Parquet or image-folder input.",
                "The rows are spread over the Spark executors (one model per executor JVM); one output row per input row.",
                "Input rows: {\"id\": str, \"image\": path (optional), \"prompt\": str}; images may also be bytes",
                "(binary column, or Hugging Face datasets' struct<bytes, path>). Output: the input's columns (image bytes",
                "dropped) plus answer, or error for a row that cannot be answered, finish_reason, prompt_tokens,",
                "completion_tokens, generate_ms, ttft_ms. Greedy by default: each answer equals",
                "instella generate --temperature 0 with the same image, prompt and --max-new-tokens."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every row written (error rows included)", "1:the job failed (message on stderr)", "2:bad usage"})
public final class GenerateJob implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--master", paramLabel = "URL",
            description = "Spark master: local[N], spark://host:port, yarn, k8s://... (default: spark-submit's, else local[*]).")
    String master;

    @Option(names = "--model", required = true, paramLabel = "DIR|REPO",
            description = "Model directory (on every node, or on a shared filesystem) or Hugging Face repo id org/name[@rev], "
                    + "downloaded once per node into its Hugging Face cache.")
    String model;

    @Option(names = "--input", required = true, paramLabel = "PATH",
            description = "Input file, folder or glob on any Hadoop filesystem (file:, hdfs:, s3a:, ...).")
    String input;

    @Option(names = "--output", required = true, paramLabel = "DIR",
            description = "Output directory (part files). Refused when it exists and is not empty, unless --overwrite.")
    String output;

    @Option(names = "--format", paramLabel = "json|parquet",
            description = "Format of input and output (default: from each path's extension; .parquet is Parquet, else JSON lines).")
    String format;

    @Option(names = "--input-format", paramLabel = "json|parquet|binaryFile",
            description = "Input format, over --format (binaryFile: a folder or glob of image files; needs --prompt).")
    String inputFormat;

    @Option(names = "--output-format", paramLabel = "json|parquet", description = "Output format, over --format.")
    String outputFormat;

    @Option(names = "--overwrite", description = "Replace an existing output directory.")
    boolean overwrite;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "One question for every row (instead of the prompt column).")
    String prompt;

    @Option(names = "--prompt-column", paramLabel = "NAME", defaultValue = "prompt", description = "Column of questions (default: ${DEFAULT-VALUE}).")
    String promptColumn;

    @Option(names = "--image-column", paramLabel = "NAME", description = "Image column (default: image, else content; none: text-only rows).")
    String imageColumn;

    @Option(names = "--id-column", paramLabel = "NAME", description = "Row id column, seeds sampling (default: id, else path).")
    String idColumn;

    @Option(names = "--system", paramLabel = "TEXT", description = "System instructions, put before every question.")
    String system;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "256",
            description = "Answer length limit in tokens (default: ${DEFAULT-VALUE}, as instella generate).")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", description = "Sampling temperature, 0 = greedy (default).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0", description = "Keep the K most likely tokens when sampling, 0 = off (default).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1", description = "Nucleus sampling mass, 1 = off (default).")
    double topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0", description = "Drop tokens below P x the top probability, 0 = off (default).")
    double minP;

    @Option(names = "--repetition-penalty", paramLabel = "R", defaultValue = "1", description = "1 = off (default).")
    double repetitionPenalty;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Base sampling seed; each row samples with this seed mixed with its id (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--seed-column", paramLabel = "NAME", description = "Whole-number column whose value, where set, is the row's seed.")
    String seedColumn;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop the answer before this text (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating past the end-of-answer token (for timing).")
    boolean ignoreEos;

    @Option(names = "--quant", paramLabel = "q8_0|q4_0", description = "Quantize the weights at load time on each executor.")
    String quant;

    @Option(names = "--kv-cache", paramLabel = "f16|f32", description = "Key/value cache type (default: f32, f16 with --quant).")
    String kvCache;

    @Option(names = "--ctx", paramLabel = "N", description = "Context length in tokens (default: the model's).")
    Integer ctx;

    @Option(names = "--lora", paramLabel = "DIR", description = "LoRA adapter (peft layout) merged at load; must exist on every node.")
    String lora;

    @Option(names = "--threads", paramLabel = "N",
            description = "Kernel threads per executor JVM (default: its available processors). Match it to the executor's cores.")
    Integer threads;

    @Option(names = "--partitions", paramLabel = "N",
            description = "Spread the rows over N partitions (default: at least Spark's default parallelism).")
    Integer partitions;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting for a session this command starts (repeatable).")
    List<String> confs = new ArrayList<>();

    enum Format { JSON, PARQUET, BINARY_FILE }

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        GenerationJobOptions options = options();
        if (partitions != null && partitions < 1) throw new JobException("--partitions must be at least 1, got " + partitions);
        Format outFormat = outputFormat();
        try (SparkSessions.Started session = Sessions.start("instella-spark generate", master, confs, err)) {
            SparkSession spark = session.spark();
            Configuration hadoop = spark.sparkContext().hadoopConfiguration();
            Path in = new Path(input);
            Path out = new Path(output);
            checkInput(in, hadoop);
            SaveMode mode = checkOutput(in, out, hadoop);
            Format inFormat = inputFormat(in, hadoop);

            long t0 = System.nanoTime();
            if (session.local()) {
                // Local mode: the executors are this JVM, so loading here is the one load they share, and a model
                // that cannot be loaded is reported before any task starts.
                ExecutorModels.get(options.modelKey());
                err.printf("instella-spark: model %s loaded in %.1f s%n", model, (System.nanoTime() - t0) / 1e9);
                err.flush();
            }
            Dataset<Row> rows = read(spark, inFormat);
            int have = rows.rdd().getNumPartitions();
            int want = partitions != null ? partitions : Math.max(have, spark.sparkContext().defaultParallelism());
            if (want != have) rows = rows.repartition(want);

            RowPlan plan = RowPlan.of(rows.schema(), options);
            Dataset<Row> answers = InstellaSpark.generate(rows, options);
            // Image bytes are input, not output: keep paths, drop the encoded files.
            if (plan.imageKind() == RowPlan.ImageKind.BINARY || plan.imageKind() == RowPlan.ImageKind.STRUCT) {
                answers = answers.drop(plan.imageName());
            }
            long t1 = System.nanoTime();
            var writer = answers.write().mode(mode);
            if (outFormat == Format.PARQUET) writer.parquet(output);
            else writer.json(output);
            double seconds = (System.nanoTime() - t1) / 1e9;

            report(spark, outFormat, seconds, err);
            return 0;
        }
    }

    GenerationJobOptions options() {
        GenerationJobOptions o = GenerationJobOptions.forModel(model)
                .withQuantization(quant).withKvCache(kvCache).withContextLength(ctx).withLora(lora).withThreads(threads)
                .withPromptColumn(promptColumn).withPrompt(prompt).withImageColumn(imageColumn).withIdColumn(idColumn)
                .withSystem(system)
                .withMaxNewTokens(maxNewTokens).withTemperature(temperature).withTopK(topK).withTopP(topP).withMinP(minP)
                .withRepetitionPenalty(repetitionPenalty).withSeed(seed).withSeedColumn(seedColumn).withStop(stop)
                .withIgnoreEos(ignoreEos);
        return o;
    }

    private Dataset<Row> read(SparkSession spark, Format f) {
        return switch (f) {
            case JSON -> spark.read().json(input);
            case PARQUET -> spark.read().parquet(input);
            case BINARY_FILE -> {
                if (prompt == null) {
                    throw new JobException("--input-format binaryFile reads image files only: give the question with --prompt TEXT");
                }
                yield spark.read().format("binaryFile").load(input);
            }
        };
    }

    private static void checkInput(Path in, Configuration hadoop) throws IOException {
        FileSystem fs = in.getFileSystem(hadoop);
        FileStatus[] found = fs.globStatus(in);
        if (found == null || found.length == 0) throw new JobException("input not found: " + in);
    }

    /** Never replaces data unless asked: an existing non-empty output is refused without --overwrite. */
    private SaveMode checkOutput(Path in, Path out, Configuration hadoop) throws IOException {
        FileSystem fs = out.getFileSystem(hadoop);
        Path qualifiedOut = fs.makeQualified(out);
        Path qualifiedIn = in.getFileSystem(hadoop).makeQualified(in);
        if (qualifiedOut.equals(qualifiedIn) || qualifiedIn.toString().startsWith(qualifiedOut + "/")) {
            throw new JobException("--output " + out + " would replace the input " + in + "; choose another output directory");
        }
        if (!fs.exists(out)) return SaveMode.ErrorIfExists;
        FileStatus status = fs.getFileStatus(out);
        boolean empty = status.isDirectory() && fs.listStatus(out).length == 0;
        if (empty) return SaveMode.Overwrite;
        if (!overwrite) {
            throw new JobException("the output " + out + " already exists and is " + (status.isDirectory() ? "not empty" : "a file")
                    + "; choose another --output, or pass --overwrite to replace it");
        }
        return SaveMode.Overwrite;
    }

    private Format inputFormat(Path in, Configuration hadoop) throws IOException {
        String named = inputFormat != null ? inputFormat : format;
        if (named != null) return parse(named, true);
        Format byName = byExtension(in.getName());
        if (byName != null) return byName;
        FileSystem fs = in.getFileSystem(hadoop);
        if (fs.isDirectory(in)) {
            for (FileStatus f : fs.listStatus(in)) {
                Format inside = byExtension(f.getPath().getName());
                if (inside != null) return inside;
            }
        }
        throw new JobException("cannot tell the format of the input " + in
                + " from its name; pass --input-format json, parquet or binaryFile");
    }

    private Format outputFormat() {
        String named = outputFormat != null ? outputFormat : format;
        if (named != null) return parse(named, false);
        Format byName = byExtension(new Path(output).getName());
        return byName == Format.PARQUET ? Format.PARQUET : Format.JSON;
    }

    private static Format byExtension(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.endsWith(".parquet") || n.endsWith(".pq")) return Format.PARQUET;
        if (n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".ndjson")) return Format.JSON;
        return null;
    }

    private static Format parse(String name, boolean input) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "json", "jsonl", "ndjson" -> Format.JSON;
            case "parquet" -> Format.PARQUET;
            case "binaryfile", "images" -> {
                if (!input) throw new JobException("the output format must be json or parquet, got '" + name + "'");
                yield Format.BINARY_FILE;
            }
            default -> throw new JobException("unknown format '" + name + "'; use json or parquet" + (input ? " (or binaryFile for a folder of images)" : ""));
        };
    }

    /** Reads the committed output back: rows and error rows, with a few errors as examples. */
    private void report(SparkSession spark, Format f, double seconds, PrintWriter err) {
        Dataset<Row> written = f == Format.PARQUET ? spark.read().parquet(output) : spark.read().json(output);
        long rows = written.count();
        long errors = 0;
        List<String> examples = new ArrayList<>();
        List<String> columns = List.of(written.columns());
        if (columns.contains(InstellaSpark.ERROR)) {
            Dataset<Row> bad = written.filter(col(InstellaSpark.ERROR).isNotNull());
            errors = bad.count();
            boolean withId = columns.contains("id");
            for (Row r : (withId ? bad.select(col("id").cast("string"), col(InstellaSpark.ERROR)) : bad.select(col(InstellaSpark.ERROR)))
                    .limit(3).collectAsList()) {
                examples.add(withId ? "row " + r.get(0) + ": " + r.get(1) : String.valueOf(r.get(0)));
            }
        }
        err.printf("instella-spark: %d rows (%d answered, %d errors) written to %s as %s in %.1f s (%.2f rows/s)%n",
                rows, rows - errors, errors, output, f == Format.PARQUET ? "Parquet" : "JSON lines", seconds, rows / Math.max(seconds, 1e-9));
        for (String e : examples) err.println("  error, " + e);
        err.flush();
    }
}
