package io.instella.spark;

import io.instella.api.GenerateOptions;

import java.io.Serial;
import java.io.Serializable;
import java.util.List;
import java.util.Objects;

/**
 * What {@link InstellaSpark#generate} does with each row: which model answers, which columns hold the id, prompt and
 * image, and the decoding settings. Immutable; every {@code with...} method returns a changed copy, and the object is
 * serializable so the same settings reach every executor.
 *
 * <p>The defaults are those of {@code instella generate}: greedy decoding, at most 256 new tokens, no top-k/top-p/min-p
 * filter, no repetition penalty. A greedy answer is therefore the same as
 * {@code instella generate --temperature 0 --max-new-tokens N} on the same image and prompt.
 *
 * <p>Columns: the prompt comes from {@link #promptColumn()} ({@code prompt}) unless one fixed {@link #prompt()} is set
 * for every row. The image column, when none is named, is {@code image} if the input has one, else {@code content}
 * (Spark's {@code binaryFile} source); without either the rows are text-only. The id column, when none is named, is
 * {@code id}, else {@code path} ({@code binaryFile}); it only seeds sampling (below) and names rows in messages.
 *
 * <p>Sampling ({@code temperature > 0}): each row has its own seed, so an answer does not depend on the partitioning
 * or on which attempt of a task produced it: the row's {@link #seedColumn()} value where that is set and not null,
 * else a hash of {@link #seed()} and the row's id (of the prompt, without an id column).
 */
public final class GenerationJobOptions implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** The answer length limit of {@code instella generate}, this job's default. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 256;

    private String model;
    private String quantization;
    private String kvCache;
    private Integer contextLength;
    private String lora;
    private Integer threads;

    private String idColumn;
    private String promptColumn = "prompt";
    private String prompt;
    private String imageColumn;
    private String system;

    private int maxNewTokens = DEFAULT_MAX_NEW_TOKENS;
    private double temperature;
    private int topK;
    private double topP = 1.0;
    private double minP;
    private double repetitionPenalty = 1.0;
    private long seed;
    private String seedColumn;
    private List<String> stop = List.of();
    private boolean ignoreEos;

    private GenerationJobOptions(String model) {
        this.model = Objects.requireNonNull(model, "model");
        if (model.isBlank()) throw new IllegalArgumentException("the model must be a directory or a Hugging Face repo id, got an empty name");
    }

    /**
     * Options for a model: a local directory, a path on a filesystem every executor sees (NFS, a mounted bucket), or
     * a Hugging Face repo id ({@code org/name[@revision]}) that each node downloads once into its Hugging Face cache.
     */
    public static GenerationJobOptions forModel(String model) {
        return new GenerationJobOptions(model);
    }

    private GenerationJobOptions copy() {
        GenerationJobOptions c = new GenerationJobOptions(model);
        c.quantization = quantization;
        c.kvCache = kvCache;
        c.contextLength = contextLength;
        c.lora = lora;
        c.threads = threads;
        c.idColumn = idColumn;
        c.promptColumn = promptColumn;
        c.prompt = prompt;
        c.imageColumn = imageColumn;
        c.system = system;
        c.maxNewTokens = maxNewTokens;
        c.temperature = temperature;
        c.topK = topK;
        c.topP = topP;
        c.minP = minP;
        c.repetitionPenalty = repetitionPenalty;
        c.seed = seed;
        c.seedColumn = seedColumn;
        c.stop = stop;
        c.ignoreEos = ignoreEos;
        return c;
    }

    // ---- the model (what each executor loads once, see ExecutorModels) ----

    /** Quantize the projection weights at load time: {@code q8_0} or {@code q4_0}; null: as stored. */
    public GenerationJobOptions withQuantization(String type) {
        if (type != null && !type.matches("(?i)q8_0|q4_0|q8|q4")) {
            throw new IllegalArgumentException("quantization must be q8_0 or q4_0, got " + type);
        }
        GenerationJobOptions c = copy();
        c.quantization = type;
        return c;
    }

    /** The key/value cache's element type, {@code f16} or {@code f32}; null: the model's default. */
    public GenerationJobOptions withKvCache(String type) {
        if (type != null && !type.matches("(?i)f16|f32")) throw new IllegalArgumentException("kvCache must be f16 or f32, got " + type);
        GenerationJobOptions c = copy();
        c.kvCache = type;
        return c;
    }

    /** Tokens of context (prompt plus answer); null: the model's own. */
    public GenerationJobOptions withContextLength(Integer tokens) {
        if (tokens != null && tokens < 2) throw new IllegalArgumentException("contextLength must be at least 2, got " + tokens);
        GenerationJobOptions c = copy();
        c.contextLength = tokens;
        return c;
    }

    /** A LoRA adapter directory (peft layout) merged at load time; it must exist on every executor's node. */
    public GenerationJobOptions withLora(String adapterDir) {
        GenerationJobOptions c = copy();
        c.lora = adapterDir;
        return c;
    }

    /**
     * Kernel threads in each executor JVM (one pool per JVM, shared by its tasks); null: the JVM's available
     * processors or {@code -Dinstella.threads}. Set it to the executor's cores when the executor's container sees
     * more processors than it was given.
     */
    public GenerationJobOptions withThreads(Integer threads) {
        if (threads != null && threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        GenerationJobOptions c = copy();
        c.threads = threads;
        return c;
    }

    // ---- columns ----

    /** The column that names each row (seeds sampling, names rows in error messages); null: id, else path, else none. */
    public GenerationJobOptions withIdColumn(String column) {
        GenerationJobOptions c = copy();
        c.idColumn = column;
        return c;
    }

    /** The column holding each row's question (default {@code prompt}). */
    public GenerationJobOptions withPromptColumn(String column) {
        GenerationJobOptions c = copy();
        c.promptColumn = Objects.requireNonNull(column, "column");
        return c;
    }

    /** One question for every row (e.g. "Describe this image."); null: read {@link #promptColumn()}. */
    public GenerationJobOptions withPrompt(String fixedPrompt) {
        GenerationJobOptions c = copy();
        c.prompt = fixedPrompt;
        return c;
    }

    /**
     * The image column: binary (encoded image bytes, e.g. {@code binaryFile}'s {@code content}), a struct with
     * {@code bytes} and/or {@code path} (Hugging Face datasets' Image feature in Parquet), or a string path on any
     * Hadoop filesystem. A null cell is a text-only row. Null: {@code image}, else {@code content}, else none.
     */
    public GenerationJobOptions withImageColumn(String column) {
        GenerationJobOptions c = copy();
        c.imageColumn = column;
        return c;
    }

    /** System instructions put before every question (as {@code instella run --system}); null: none. */
    public GenerationJobOptions withSystem(String text) {
        GenerationJobOptions c = copy();
        c.system = text;
        return c;
    }

    // ---- decoding ----

    public GenerationJobOptions withMaxNewTokens(int tokens) {
        if (tokens < 0) throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + tokens);
        GenerationJobOptions c = copy();
        c.maxNewTokens = tokens;
        return c;
    }

    /** 0 = greedy (the default). */
    public GenerationJobOptions withTemperature(double t) {
        if (!(t >= 0 && t < Double.POSITIVE_INFINITY)) throw new IllegalArgumentException("temperature must be >= 0, got " + t);
        GenerationJobOptions c = copy();
        c.temperature = t;
        return c;
    }

    /** 0 = off (the default). */
    public GenerationJobOptions withTopK(int k) {
        if (k < 0) throw new IllegalArgumentException("topK must be >= 0, got " + k);
        GenerationJobOptions c = copy();
        c.topK = k;
        return c;
    }

    /** 1 = off (the default). */
    public GenerationJobOptions withTopP(double p) {
        if (!(p > 0 && p <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + p);
        GenerationJobOptions c = copy();
        c.topP = p;
        return c;
    }

    /** 0 = off (the default). */
    public GenerationJobOptions withMinP(double p) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("minP must be in [0, 1], got " + p);
        GenerationJobOptions c = copy();
        c.minP = p;
        return c;
    }

    /** 1 = off (the default). */
    public GenerationJobOptions withRepetitionPenalty(double r) {
        if (!(r > 0)) throw new IllegalArgumentException("repetitionPenalty must be > 0, got " + r);
        GenerationJobOptions c = copy();
        c.repetitionPenalty = r;
        return c;
    }

    /** The base seed mixed with each row's id when sampling (default 0). */
    public GenerationJobOptions withSeed(long seed) {
        GenerationJobOptions c = copy();
        c.seed = seed;
        return c;
    }

    /** A whole-number column whose value, where not null, is the row's sampling seed. */
    public GenerationJobOptions withSeedColumn(String column) {
        GenerationJobOptions c = copy();
        c.seedColumn = column;
        return c;
    }

    /** The answer stops before the first of these strings. */
    public GenerationJobOptions withStop(List<String> strings) {
        List<String> s = List.copyOf(strings);
        for (String x : s) if (x.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        GenerationJobOptions c = copy();
        c.stop = s;
        return c;
    }

    /** Keep generating past the end-of-answer token (benchmarks). */
    public GenerationJobOptions withIgnoreEos(boolean ignore) {
        GenerationJobOptions c = copy();
        c.ignoreEos = ignore;
        return c;
    }

    // ---- accessors ----

    public String model() { return model; }
    public String quantization() { return quantization; }
    public String kvCache() { return kvCache; }
    public Integer contextLength() { return contextLength; }
    public String lora() { return lora; }
    public Integer threads() { return threads; }
    public String idColumn() { return idColumn; }
    public String promptColumn() { return promptColumn; }
    public String prompt() { return prompt; }
    public String imageColumn() { return imageColumn; }
    public String system() { return system; }
    public int maxNewTokens() { return maxNewTokens; }
    public double temperature() { return temperature; }
    public int topK() { return topK; }
    public double topP() { return topP; }
    public double minP() { return minP; }
    public double repetitionPenalty() { return repetitionPenalty; }
    public long seed() { return seed; }
    public String seedColumn() { return seedColumn; }
    public List<String> stop() { return stop; }
    public boolean ignoreEos() { return ignoreEos; }

    /** Whether answers are sampled (temperature above 0) rather than greedy. */
    public boolean sampling() { return temperature > 0; }

    /** The key under which each executor JVM keeps its one loaded model. */
    public ExecutorModels.Key modelKey() {
        return new ExecutorModels.Key(model, quantization, kvCache, contextLength, lora);
    }

    /**
     * The per-row decoding settings for the public API, every field set explicitly (so the model's generation
     * config cannot change them: the same as {@code instella generate}).
     */
    public GenerateOptions generateOptions(long rowSeed) {
        GenerateOptions o = GenerateOptions.defaults()
                .withMaxNewTokens(maxNewTokens)
                .withTemperature(temperature)
                .withTopK(topK)
                .withTopP(topP)
                .withMinP(minP)
                .withRepetitionPenalty(repetitionPenalty)
                .withIgnoreEos(ignoreEos)
                .withSeed(rowSeed);
        return stop.isEmpty() ? o : o.withStop(stop.toArray(String[]::new));
    }
}
