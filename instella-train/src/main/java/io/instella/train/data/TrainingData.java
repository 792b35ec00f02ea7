package io.instella.train.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.instella.model.config.ConfigException;
import io.instella.model.config.GenerationDefaults;
import io.instella.model.config.InstellaConfig;
import io.instella.model.tokenizer.Tokenizer;
import io.instella.model.tokenizer.TokenizerException;

/**
 * The training data of a run: the records ({@link DataMixture}), how they become examples ({@link ExampleBuilder}),
 * the collator, the skip report, and a {@link DataLoader} over them.
 *
 * <pre>{@code
 * try (TrainingData data = TrainingData.open(modelDir, DataOptions.of(file).withImageFolder(images)
 *         .withBatchSize(4).withModelMaxLength(8192))) {
 *     DataLoader.BatchIterator it = data.loader().batches(savedPosition);   // LoaderPosition.START at first
 *     Batch batch = it.next();  ...  LoaderPosition resumeHere = it.position();
 *     log(data.report().summary());
 * }
 * }</pre>
 */
public final class TrainingData implements AutoCloseable {
    private final DataOptions options;
    private final DataMixture mixture;
    private final ExampleBuilder builder;
    private final Collator collator;
    private final DataReport report;
    private final DataLoader loader;

    private TrainingData(DataOptions options, DataMixture mixture, ExampleBuilder builder, int padTokenId,
                         DataReport report) {
        this.options = options;
        this.mixture = mixture;
        this.builder = builder;
        this.collator = new Collator(padTokenId, options.modelMaxLength());
        this.report = report;
        this.loader = new DataLoader(mixture, builder, collator, report, options.batchSize(), options.dropLast(),
                options.shuffle(), options.strict(), options.seed(), options.threads(), options.prefetch());
    }

    /**
     * Opens the data for a model directory: its tokenizer.json, pad id (generation_config.json, else config.json,
     * else 1) and image settings ({@link TrainingImageConfig#forModel}; none for a model without vision).
     */
    public static TrainingData open(Path modelDir, DataOptions options) {
        return open(modelDir, options, new DataReport());
    }

    /** As {@link #open(Path, DataOptions)}, continuing the skip counts of a resumed run. */
    public static TrainingData open(Path modelDir, DataOptions options, DataReport report) {
        InstellaConfig config;
        Tokenizer tokenizer;
        int pad;
        try {
            config = InstellaConfig.load(modelDir);
            Path tok = modelDir.resolve("tokenizer.json");
            if (!Files.isRegularFile(tok)) throw new DataException(modelDir + ": no tokenizer.json");
            tokenizer = Tokenizer.load(tok, config.text().vocabSize());
            Integer p = GenerationDefaults.load(modelDir, config, tokenizer).padTokenId();
            pad = p != null ? p : 1;
        } catch (ConfigException | TokenizerException e) {
            throw new DataException(e.getMessage(), e);
        }
        TrainingImageConfig images = TrainingImageConfig.forModel(modelDir, options.imageAspectRatio(), options.mergeType());
        return open(options, tokenizer, pad, images, report);
    }

    /**
     * Opens the data with explicit parts (e.g. stage 1 from an OLMo checkpoint's tokenizer and a CLIP tower's
     * {@link TrainingImageConfig#forVisionTower}).
     *
     * @param images null for a text-only run
     */
    public static TrainingData open(DataOptions options, Tokenizer tokenizer, int padTokenId,
                                    TrainingImageConfig images, DataReport report) {
        ExampleBuilder builder = new ExampleBuilder(tokenizer, padTokenId, images, options.modelMaxLength(),
                options.truncate());
        DataMixture mixture = DataMixture.open(options.data(), options.imageFolder(), options.seed());
        return new TrainingData(options, mixture, builder, padTokenId, report == null ? new DataReport() : report);
    }

    /**
     * The examples of the records with the given ids, in the order given (for {@code instella train grads
     * --examples}): every dataset is searched in file order; the first record with an id is used.
     *
     * @throws DataException naming the id when no record has it, or with the skip message when its record
     *                       cannot be used
     */
    public List<TrainingExample> examplesById(List<String> ids) {
        java.util.Map<String, Long> found = new java.util.HashMap<>();
        java.util.Set<String> wanted = new java.util.HashSet<>(ids);
        for (long ref : mixture.epochRecords(0)) {
            if (found.size() == wanted.size()) break;
            try {
                String id = mixture.read(ref).id();
                if (wanted.contains(id)) found.putIfAbsent(id, ref);
            } catch (RecordSkipped ignored) {
                // a record that cannot be read has no id to match
            }
        }
        List<TrainingExample> out = new java.util.ArrayList<>();
        for (String id : ids) {
            Long ref = found.get(id);
            if (ref == null) throw new DataException(options.data() + ": no record has id '" + id + "'");
            try {
                out.add(builder.build(mixture.read(ref)));
            } catch (RecordSkipped e) {
                throw new DataException(e.skip().describe());
            }
        }
        return out;
    }

    public DataOptions options() { return options; }

    public DataMixture mixture() { return mixture; }

    public ExampleBuilder builder() { return builder; }

    public Collator collator() { return collator; }

    /** Skipped and used records so far (summary line, and the map for trainer_state.json). */
    public DataReport report() { return report; }

    public DataLoader loader() { return loader; }

    /** Records per epoch (before skips). */
    public long recordsPerEpoch() { return mixture.recordsPerEpoch(); }

    /** Warnings from reading the mixture, for the log. */
    public List<String> warnings() { return mixture.warnings(); }

    @Override
    public void close() {
        loader.close();
        mixture.close();
    }
}
