package io.instella.spark;

import io.instella.spark.generate.GenerateRows;
import io.instella.spark.generate.HadoopConf;
import io.instella.spark.generate.RowPlan;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.util.List;

/**
 * Instella-VL as a DataFrame function: {@link #generate} answers every row of a DataFrame of prompts (and images)
 * on the executors, one model per executor JVM.
 *
 * <pre>{@code
 * Dataset<Row> images = spark.read().format("binaryFile").load("s3a://bucket/photos/*.jpg");
 * Dataset<Row> answers = InstellaSpark.generate(images,
 *         GenerationJobOptions.forModel("amd/Instella-VL-1B").withPrompt("Describe this image.").withMaxNewTokens(128));
 * answers.drop("content").write().parquet("s3a://bucket/captions.parquet");
 * }</pre>
 *
 * <p>The result has every input column followed by {@link #OUTPUT_COLUMNS}. A row that cannot be answered (an image
 * that does not decode or cannot be read, a prompt longer than the context, a null prompt) gets a user-readable
 * {@code error} and a null {@code answer}; the job goes on. Only a model that cannot be loaded fails the job.
 *
 * <p>The function is lazy, as every Dataset transformation: the work happens when the result is written or
 * collected. Each input row gives exactly one output row, so Spark's retries of failed tasks (or of tasks on a lost
 * executor) never duplicate rows in what its writers commit.
 */
public final class InstellaSpark {
    /** The answer text; null for an error row. */
    public static final String ANSWER = "answer";
    /** What went wrong with this row, for a person to read; null when the row was answered. */
    public static final String ERROR = "error";
    /** {@code stop} (end of answer or a stop string) or {@code length} (the token limit); null for an error row. */
    public static final String FINISH_REASON = "finish_reason";
    /** Positions of the prompt: text tokens plus image tokens. */
    public static final String PROMPT_TOKENS = "prompt_tokens";
    /** Tokens generated. */
    public static final String COMPLETION_TOKENS = "completion_tokens";
    /** Model time for the row: image encoding, prompt and answer, in milliseconds (waiting for the model not included). */
    public static final String GENERATE_MS = "generate_ms";
    /** Model time to the first answer token: image encoding plus the prompt pass, in milliseconds. */
    public static final String TTFT_MS = "ttft_ms";

    /** The columns {@link #generate} adds, in order. */
    public static final List<String> OUTPUT_COLUMNS = List.of(ANSWER, ERROR, FINISH_REASON, PROMPT_TOKENS, COMPLETION_TOKENS,
            GENERATE_MS, TTFT_MS);

    private InstellaSpark() {
    }

    /**
     * Answers every row of {@code rows} with the model and settings of {@code options}.
     *
     * @throws IllegalArgumentException when a named column is missing or of a type that cannot hold what it should,
     *                                  or when the input already has a column this function adds
     */
    public static Dataset<Row> generate(Dataset<Row> rows, GenerationJobOptions options) {
        StructType in = rows.schema();
        RowPlan plan = RowPlan.of(in, options);
        StructType out = outputSchema(in);
        HadoopConf conf = new HadoopConf(rows.sparkSession().sparkContext().hadoopConfiguration());
        return rows.mapPartitions(new GenerateRows(options, plan, conf), Encoders.row(out));
    }

    /** The schema of {@link #generate}'s result for an input of schema {@code in}. */
    public static StructType outputSchema(StructType in) {
        for (String c : OUTPUT_COLUMNS) {
            for (String existing : in.fieldNames()) {
                if (existing.equalsIgnoreCase(c)) {
                    throw new IllegalArgumentException("the input already has a column named '" + existing
                            + "', which generate adds; rename or drop it first (withColumnRenamed / drop)");
                }
            }
        }
        StructType out = in;
        out = out.add(ANSWER, DataTypes.StringType, true);
        out = out.add(ERROR, DataTypes.StringType, true);
        out = out.add(FINISH_REASON, DataTypes.StringType, true);
        out = out.add(PROMPT_TOKENS, DataTypes.IntegerType, true);
        out = out.add(COMPLETION_TOKENS, DataTypes.IntegerType, true);
        out = out.add(GENERATE_MS, DataTypes.DoubleType, true);
        out = out.add(TTFT_MS, DataTypes.DoubleType, true);
        return out;
    }
}
