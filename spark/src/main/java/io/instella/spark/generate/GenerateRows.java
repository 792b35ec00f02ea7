package io.instella.spark.generate;

import io.instella.api.Conversation;
import io.instella.api.Image;
import io.instella.api.InstellaModel;
import io.instella.api.Response;
import io.instella.core.kernels.Parallel;
import io.instella.spark.ExecutorModels;
import io.instella.spark.GenerationJobOptions;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

import java.io.Serial;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Locale;

/**
 * The executor side of {@link io.instella.spark.InstellaSpark#generate}: answers the rows of one partition, one at a
 * time, with the executor JVM's shared model, as the writer pulls them (nothing is buffered). One input row gives
 * exactly one output row: the input's columns, then answer, error, finish_reason, prompt_tokens, completion_tokens,
 * generate_ms, ttft_ms.
 *
 * <p>The model's {@code generate} is synchronized, so the tasks of one executor take turns on it; each answer uses
 * all the kernel threads of the JVM. A row's own problems (its image, its prompt) become its error; a model that
 * cannot be loaded fails the task (and, after Spark's retries, the job), since no row could be answered.
 */
public final class GenerateRows implements MapPartitionsFunction<Row, Row> {
    @Serial
    private static final long serialVersionUID = 1L;

    private final GenerationJobOptions options;
    private final RowPlan plan;
    private final HadoopConf conf;

    public GenerateRows(GenerationJobOptions options, RowPlan plan, HadoopConf conf) {
        this.options = options;
        this.plan = plan;
        this.conf = conf;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        ImageCells images = new ImageCells(plan, conf);
        return new Iterator<>() {
            private InstellaModel model;

            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public Row next() {
                Row row = rows.next();
                if (model == null) model = loadModel();
                return answer(model, images, row);
            }
        };
    }

    private InstellaModel loadModel() {
        InstellaModel model = ExecutorModels.get(options.modelKey());
        Integer threads = options.threads();
        if (threads != null && Parallel.threads() != threads) {
            // Under the model's lock: no answer of this model is using the pool while it is replaced.
            synchronized (model) {
                if (Parallel.threads() != threads) Parallel.setThreads(threads);
            }
        }
        return model;
    }

    private Row answer(InstellaModel model, ImageCells images, Row row) {
        Object[] out = new Object[plan.fields() + 7];
        for (int i = 0; i < plan.fields(); i++) out[i] = row.get(i);
        int at = plan.fields();
        try {
            if (plan.corrupt() >= 0 && !row.isNullAt(plan.corrupt())) {
                String line = row.getString(plan.corrupt()).strip();
                throw new RowException("this input line is not a JSON object: " + (line.length() > 120 ? line.substring(0, 120) + "..." : line));
            }
            String question = question(row);
            Image image = images.read(row);
            Conversation chat = Conversation.create();
            if (options.system() != null) chat.system(options.system());
            if (image != null) chat.user(question, image);
            else chat.user(question);
            Response r;
            try {
                r = model.generate(chat, options.generateOptions(seed(row, question)));
            } catch (RuntimeException e) {
                throw RowException.of(e);
            }
            Response.Stats s = r.stats();
            out[at] = r.text();
            out[at + 2] = r.finishReason().name().toLowerCase(Locale.ROOT);
            out[at + 3] = s.promptTokens();
            out[at + 4] = r.tokenIds().length;
            out[at + 5] = s.visionMillis() + s.prefillMillis() + s.decodeMillis();
            out[at + 6] = s.visionMillis() + s.prefillMillis();
        } catch (RowException e) {
            out[at + 1] = e.getMessage();
        }
        return RowFactory.create(out);
    }

    private String question(Row row) {
        if (options.prompt() != null) return options.prompt();
        if (row.isNullAt(plan.prompt())) throw new RowException("the prompt (column '" + plan.promptName() + "') is null");
        return row.getString(plan.prompt());
    }

    /** The row's sampling seed: its seed column where set, else the base seed mixed with the row's id (or prompt). */
    private long seed(Row row, String question) {
        if (plan.seed() >= 0 && !row.isNullAt(plan.seed())) {
            return plan.seedIsLong() ? row.getLong(plan.seed()) : row.getInt(plan.seed());
        }
        String key = plan.id() >= 0 && !row.isNullAt(plan.id()) ? String.valueOf(row.get(plan.id())) : question;
        return rowSeed(options.seed(), key);
    }

    /** FNV-1a over the key's UTF-8 bytes, mixed with the base seed by SplitMix64's finalizer: stable across JVMs. */
    static long rowSeed(long base, String key) {
        long h = 0xcbf29ce484222325L;
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        long z = h + base * 0x9e3779b97f4a7c15L;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
