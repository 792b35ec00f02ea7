package io.instella.spark.cli;

import io.instella.spark.SparkSessions;
import io.instella.api.Conversation;
import io.instella.api.Image;
import io.instella.api.InstellaModel;
import io.instella.api.Response;
import io.instella.core.kernels.Parallel;
import io.instella.spark.ExecutorModels;
import io.instella.spark.GenerationJobOptions;
import io.instella.spark.InstellaSpark;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code instella-spark bench}: the cost of Spark around generation. The same rows are answered by a plain loop of
 * {@code InstellaModel.generate} in this JVM and by the batch-generation job on a local master (written as JSON
 * lines), alternately, with the one model both share; it prints rows/s of each and Spark's overhead, and checks that
 * both gave the same greedy answers.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure Spark's overhead: rows/s of the job against a plain generate loop.",
                "Both answer the same rows on a local master, alternately, sharing one loaded model; greedy answers are compared."})
public final class BenchJob implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--master", defaultValue = "local[2]", description = "A local master (default: ${DEFAULT-VALUE}).")
    String master;

    @Option(names = "--model", required = true, paramLabel = "DIR|REPO", description = "The model.")
    String model;

    @Option(names = "--rows", defaultValue = "200", description = "Rows per pass (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--max-new-tokens", defaultValue = "16", description = "Tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--image", paramLabel = "FILE", description = "An image for every --image-every'th row (default: text-only rows).")
    Path image;

    @Option(names = "--image-every", defaultValue = "1", description = "Which rows get the image: every Nth (default: ${DEFAULT-VALUE}).")
    int imageEvery;

    @Option(names = "--partitions", description = "Partitions of the Spark input (default: the master's parallelism).")
    Integer partitions;

    @Option(names = "--rounds", defaultValue = "2", description = "Loop/job pairs to time (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--warmup", defaultValue = "10", description = "Rows answered first, untimed, to warm the JIT (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!Sessions.isLocal(master)) throw new JobException("bench compares against a loop in this JVM: --master must be local[N]");
        if (rows < 1 || rounds < 1 || imageEvery < 1) throw new JobException("--rows, --rounds and --image-every must be at least 1");
        if (image != null && !Files.isRegularFile(image)) throw new JobException("image not found: " + image);
        GenerationJobOptions options = GenerationJobOptions.forModel(model).withMaxNewTokens(maxNewTokens);
        List<Row> input = rows();
        try (SparkSessions.Started session = Sessions.start("instella-spark bench", master, List.of(), err)) {
            SparkSession spark = session.spark();
            long t0 = System.nanoTime();
            InstellaModel m = ExecutorModels.get(options.modelKey());
            err.printf("bench: model %s loaded in %.1f s; %d rows, %d new tokens each, %s, %d kernel threads, master %s%n",
                    model, (System.nanoTime() - t0) / 1e9, rows, maxNewTokens,
                    image == null ? "text only" : "image " + image.getFileName() + " on every " + imageEvery + ". row",
                    Parallel.threads(), spark.sparkContext().master());
            err.flush();
            loop(m, options, input.subList(0, Math.min(warmup, input.size())));

            StructType schema = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
                    .add("image", DataTypes.StringType);
            int parts = partitions != null ? partitions : spark.sparkContext().defaultParallelism();
            Dataset<Row> df = spark.createDataFrame(input, schema).repartition(parts).cache();
            df.count();

            List<double[]> times = new ArrayList<>();
            Map<String, String> loopAnswers = null;
            Map<String, String> sparkAnswers = null;
            for (int round = 1; round <= rounds; round++) {
                long a = System.nanoTime();
                loopAnswers = loop(m, options, input);
                double loopS = (System.nanoTime() - a) / 1e9;
                Path dir = Files.createTempDirectory("instella-spark-bench");
                long b = System.nanoTime();
                InstellaSpark.generate(df, options).select("id", InstellaSpark.ANSWER, InstellaSpark.ERROR)
                        .write().mode("overwrite").json(dir.toString());
                double sparkS = (System.nanoTime() - b) / 1e9;
                sparkAnswers = new HashMap<>();
                for (Row r : spark.read().json(dir.toString()).select("id", InstellaSpark.ANSWER).collectAsList()) {
                    sparkAnswers.put(r.getString(0), r.getString(1));
                }
                deleteTree(dir);
                times.add(new double[]{loopS, sparkS});
                err.printf("bench: round %d: loop %.2f s (%.2f rows/s), spark %.2f s (%.2f rows/s), overhead %+.1f%%%n", round,
                        loopS, rows / loopS, sparkS, rows / sparkS, 100 * (sparkS / loopS - 1));
                err.flush();
            }
            Map<String, String> loopLast = loopAnswers, sparkLast = sparkAnswers;
            long differ = input.stream().map(r -> r.getString(0))
                    .filter(id -> !java.util.Objects.equals(loopLast.get(id), sparkLast.get(id))).count();
            double[] loopS = times.stream().mapToDouble(t -> t[0]).sorted().toArray();
            double[] sparkS = times.stream().mapToDouble(t -> t[1]).sorted().toArray();
            double loopMedian = median(loopS), sparkMedian = median(sparkS);
            out.printf("loop  (InstellaModel.generate, one JVM): %.2f rows/s (median of %d rounds, %.2f s per %d rows)%n",
                    rows / loopMedian, rounds, loopMedian, rows);
            out.printf("spark (InstellaSpark.generate, %s, %d partitions, JSON written): %.2f rows/s (%.2f s)%n",
                    spark.sparkContext().master(), parts, rows / sparkMedian, sparkMedian);
            out.printf("spark overhead: %+.1f%% (median times); answers that differ: %d of %d%n",
                    100 * (sparkMedian / loopMedian - 1), differ, rows);
            out.flush();
            return 0;
        }
    }

    private List<Row> rows() {
        String[] questions = {"What is shown here?", "Describe the scene in a few words.", "What colour dominates?",
                "Name one object you can see.", "Is this indoors or outdoors?"};
        List<Row> list = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            String img = image != null && i % imageEvery == 0 ? image.toAbsolutePath().toString() : null;
            list.add(RowFactory.create("r" + i, "Question " + i + ": " + questions[i % questions.length], img));
        }
        return list;
    }

    /** The plain loop: what a program without Spark does with the same rows and the same model. */
    private static Map<String, String> loop(InstellaModel m, GenerationJobOptions options, List<Row> input) {
        Map<String, String> answers = new HashMap<>();
        for (Row r : input) {
            Conversation chat = Conversation.create();
            if (r.isNullAt(2)) chat.user(r.getString(1));
            else chat.user(r.getString(1), Image.fromPath(Path.of(r.getString(2))));
            Response resp = m.generate(chat, options.generateOptions(0));
            answers.put(r.getString(0), resp.text());
        }
        return answers;
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
