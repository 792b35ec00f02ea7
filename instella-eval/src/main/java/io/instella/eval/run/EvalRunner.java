package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.data.DatasetFiles;
import io.instella.eval.data.ParquetDataset;
import io.instella.eval.py.PyJson;
import io.instella.eval.score.Scorer;
import io.instella.eval.tasks.AggregationContext;
import io.instella.eval.tasks.DatasetSpec;
import io.instella.eval.tasks.EvalInputException;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.PopeTask;
import io.instella.eval.tasks.Tasks;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs tasks end to end: reads each task's split from parquet, builds every document's prompt and images,
 * asks the model (documents in dataset order, one at a time), journals each response as soon as it exists,
 * then scores like lmms-eval and writes lmms-eval's files under {@code <output>/<model_name_sanitized>/}:
 * {@code <date>_results.json} and {@code <date>_samples_<task>.jsonl}. A rerun with the same output directory
 * resumes from the journals in {@code <output>/<model_name_sanitized>/journal/}.
 */
public final class EvalRunner {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    /** {@code sha256(json.dumps(None))}: lmms-eval's doc_hash, since Instance.doc is always None. */
    static final String DOC_HASH = sha256("null");

    /** What to run. {@code limit} null = every document; {@code worldSize} emulates lmms-eval's process count. */
    public record Options(String model, List<String> tasks, Integer limit, Path output, Path dataRoot, int worldSize,
                          String popeMetric) {}

    /** Outcome: the results file and, per task, the scores. */
    public record Outcome(Path resultsFile, Map<String, Scorer.Result> scores, String table) {}

    private final Options options;
    private final PrintWriter out;
    private final PrintWriter err;
    private final Clock clock;
    private final boolean interactive;

    public EvalRunner(Options options, PrintWriter out, PrintWriter err, Clock clock, boolean interactiveProgress) {
        this.options = options;
        this.out = out;
        this.err = err;
        this.clock = clock;
        this.interactive = interactiveProgress;
        for (String t : options.tasks()) Tasks.byName(t); // fail early on unknown names
        if (options.worldSize() < 1) throw new IllegalArgumentException("world size must be >= 1");
    }

    public Outcome run(EvalModel model) {
        long startNanos = System.nanoTime();
        ZonedDateTime started = ZonedDateTime.now(clock.withZone(ZoneId.of("Asia/Singapore")));
        String dateId = started.format(DateTimeFormatter.ofPattern("yyyyMMdd_HHmmss"));
        String sanitized = sanitizeModelName(options.model());
        Path modelDir = options.output().resolve(sanitized);
        Map<String, Scorer.Result> scores = new LinkedHashMap<>();
        Map<String, JsonNode> aggregates = new LinkedHashMap<>();
        Map<String, int[]> counts = new LinkedHashMap<>();
        Map<String, String> taskHashes = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        for (String name : options.tasks()) {
            EvalTask task = name.equals("pope") ? new PopeTask(options.popeMetric()) : Tasks.byName(name);
            TaskRun tr = runTask(task, model, modelDir);
            Scorer.Result result = Scorer.score(task, tr.inputs, options.worldSize(), new AggregationContext(options.output()));
            scores.put(name, result);
            aggregates.put(name, result.aggregate());
            counts.put(name, new int[] {tr.datasetSize, tr.inputs.size()});
            taskHashes.put(name, writeSamples(modelDir.resolve(dateId + "_samples_" + name + ".jsonl"), task, result, tr));
            notes.addAll(result.notes());
        }
        ObjectNode results = resultsJson(scores, counts, taskHashes, dateId, sanitized, startNanos);
        Path resultsFile = modelDir.resolve(dateId + "_results.json");
        write(resultsFile, PyJson.dumpsIndented(results));
        String table = ResultsTable.render(options.model(), aggregates, options.popeMetric());
        for (String n : notes) err.println("note: " + n);
        out.print(table);
        out.println("results: " + resultsFile);
        out.flush();
        err.flush();
        return new Outcome(resultsFile, scores, table);
    }

    private static final class TaskRun {
        final List<Scorer.Input> inputs = new ArrayList<>();
        final List<Boolean> hasImages = new ArrayList<>();
        int datasetSize;
    }

    private TaskRun runTask(EvalTask task, EvalModel model, Path modelDir) {
        DatasetSpec spec = task.dataset();
        TaskRun tr = new TaskRun();
        try (ParquetDataset data = new ParquetDataset(DatasetFiles.shards(options.dataRoot(), spec))) {
            List<ObjectNode> docs = data.documents();
            tr.datasetSize = docs.size();
            int n = options.limit() == null ? docs.size() : Math.min(options.limit(), docs.size());
            Map<String, byte[]> external = externalImages(task);
            GenerationSettings settings = GenerationSettings.fromTaskKwargs(task.generationKwargs());
            ObjectNode header = JSON.objectNode();
            header.put("journal", 1);
            header.put("task", task.name());
            header.put("model", options.model());
            header.put("dataset", spec.path() + (spec.name() == null ? "" : "/" + spec.name()) + ":" + spec.split());
            header.set("generation_kwargs", task.generationKwargs());
            try (Journal journal = Journal.open(modelDir.resolve("journal").resolve(task.name() + ".jsonl"), header);
                 ParquetDataset.ImageCursor images = data.imageCursor()) {
                Map<Integer, Journal.Entry> done = journal.entries();
                int alreadyDone = 0;
                for (int d = 0; d < n; d++) if (done.containsKey(d)) alreadyDone++;
                Progress progress = new Progress(err, task.name(), n, alreadyDone, interactive, System::nanoTime);
                for (int docId = 0; docId < n; docId++) {
                    ObjectNode doc = docs.get(docId);
                    String prompt;
                    try {
                        prompt = task.docToText(doc);
                    } catch (EvalInputException e) {
                        throw new IllegalStateException(task.name() + " document " + docId + " of " + spec.path() + ": " + e.getMessage(), e);
                    }
                    String promptHash = sha256(prompt);
                    Journal.Entry entry = done.get(docId);
                    List<byte[]> visuals;
                    if (entry != null) {
                        if (!entry.promptHash().equals(promptHash)) {
                            throw new IllegalStateException(task.name() + " document " + docId + " differs from the one in the journal"
                                    + " (the dataset changed?); use another --output directory or delete the journal");
                        }
                        visuals = null;
                    } else {
                        visuals = visuals(task, doc, docId, images, external);
                        String response = model.generate(prompt, visuals, settings);
                        if (response == null) throw new IllegalStateException("the model returned no text for " + task.name() + " document " + docId);
                        journal.append(docId, promptHash, response);
                        entry = new Journal.Entry(docId, promptHash, response);
                        progress.step();
                    }
                    tr.inputs.add(new Scorer.Input(doc, entry.response()));
                    tr.hasImages.add(visuals != null ? !visuals.isEmpty() : hasVisuals(task, doc, docId, images, external));
                }
            }
        }
        return tr;
    }

    private boolean hasVisuals(EvalTask task, ObjectNode doc, int docId, ParquetDataset.ImageCursor images, Map<String, byte[]> external) {
        return !visuals(task, doc, docId, images, external).isEmpty();
    }

    private List<byte[]> visuals(EvalTask task, ObjectNode doc, int docId, ParquetDataset.ImageCursor images, Map<String, byte[]> external) {
        if (external != null) {
            EvalTask.ExternalImages ext = task.externalImages();
            JsonNode key = doc.get(ext.docKeyField());
            byte[] img = key == null ? null : external.get(key.asText());
            if (img == null) {
                throw new IllegalStateException(task.name() + " document " + docId + ": no image with " + ext.idColumn() + " = " + key
                        + " in " + task.dataset().path() + "/" + ext.config());
            }
            return List.of(img);
        }
        return images.imagesFor(docId).select(task.imageColumns(doc));
    }

    private Map<String, byte[]> externalImages(EvalTask task) {
        EvalTask.ExternalImages ext = task.externalImages();
        if (ext == null) return null;
        DatasetSpec spec = new DatasetSpec(task.dataset().path(), ext.config(), ext.split());
        try (ParquetDataset images = new ParquetDataset(DatasetFiles.shards(options.dataRoot(), spec))) {
            return images.imagesById(ext.idColumn(), ext.imageColumn());
        }
    }

    /** Writes the samples file (lmms-eval's keys and order) and returns the task hash. */
    private String writeSamples(Path file, EvalTask task, Scorer.Result result, TaskRun tr) {
        StringBuilder sb = new StringBuilder();
        StringBuilder hashes = new StringBuilder();
        for (Scorer.Sample s : result.logOrder()) {
            ObjectNode line = JSON.objectNode();
            line.put("doc_id", s.docId());
            ObjectNode saved = JSON.objectNode();
            s.doc().properties().forEach(e -> {
                if (e.getKey().contains("image")) return;
                if (e.getValue().isObject() && e.getValue().has("array")) return;
                saved.set(e.getKey(), e.getValue());
            });
            line.set("doc", saved);
            String target = PyJson.str(s.target());
            line.put("target", target);
            ObjectNode arguments = line.putObject("arguments");
            List<String> keys = GenerationSettings.loggedArgumentKeys(task.generationKwargs(), tr.hasImages.get(s.docId()));
            for (int i = 0; i < keys.size(); i++) arguments.put(String.valueOf(i), keys.get(i));
            line.putArray("resps").addArray().add(s.response());
            line.putArray("filtered_resps").add(s.filtered());
            String promptHash = sha256(s.prompt());
            String targetHash = sha256(target);
            line.put("doc_hash", DOC_HASH);
            line.put("prompt_hash", promptHash);
            line.put("target_hash", targetHash);
            s.result().properties().forEach(e -> line.set(e.getKey(), e.getValue()));
            line.put("input", s.prompt());
            sb.append(PyJson.dumps(line)).append('\n');
            hashes.append(DOC_HASH).append(promptHash).append(targetHash);
        }
        write(file, sb.toString());
        return sha256(hashes.toString());
    }

    private ObjectNode resultsJson(Map<String, Scorer.Result> scores, Map<String, int[]> counts, Map<String, String> taskHashes,
                                   String dateId, String sanitized, long startNanos) {
        List<String> sortedTasks = new ArrayList<>(scores.keySet());
        sortedTasks.sort(null);
        ObjectNode root = JSON.objectNode();
        ObjectNode results = root.putObject("results");
        for (String t : sortedTasks) {
            Scorer.Result r = scores.get(t);
            ObjectNode entry = results.putObject(t);
            entry.put("alias", t);
            boolean first = true;
            for (Map.Entry<String, JsonNode> e : r.aggregate().properties()) {
                entry.set(e.getKey(), e.getValue());
                if (first && !e.getKey().contains("_stderr,")) {
                    entry.put("samples", r.sampleCount());
                    first = false;
                }
            }
        }
        ObjectNode groups = root.putObject("group_subtasks");
        List<String> reversed = new ArrayList<>(scores.keySet());
        java.util.Collections.reverse(reversed);
        for (String t : reversed) groups.putArray(t);
        ObjectNode configs = root.putObject("configs");
        for (String t : sortedTasks) configs.set(t, taskConfig(t));
        ObjectNode versions = root.putObject("versions");
        for (String t : sortedTasks) versions.put(t, 0.0);
        ObjectNode nShot = root.putObject("n-shot");
        for (String t : sortedTasks) nShot.put(t, 0);
        ObjectNode hib = root.putObject("higher_is_better");
        for (String t : sortedTasks) {
            ObjectNode m = hib.putObject(t);
            Tasks.byName(t).metrics().forEach(metric -> m.put(metric.name(), true));
        }
        ObjectNode nSamples = root.putObject("n-samples");
        for (String t : scores.keySet()) {
            nSamples.putObject(t).put("original", counts.get(t)[0]).put("effective", counts.get(t)[1]);
        }
        ObjectNode config = root.putObject("config");
        config.put("model", "instellavl");
        config.put("model_args", "pretrained=" + options.model() + ",conv_template=instella,model_name=instellavl");
        config.put("batch_size", "1");
        config.putArray("batch_sizes");
        config.putNull("device");
        config.putNull("use_cache");
        if (options.limit() == null) config.putNull("limit");
        else config.put("limit", options.limit());
        config.put("bootstrap_iters", 100000);
        config.put("gen_kwargs", "");
        config.put("random_seed", 0);
        config.put("numpy_seed", 1234);
        config.put("torch_seed", 1234);
        config.put("fewshot_seed", 1234);
        config.put("world_size_emulated", options.worldSize());
        root.put("git_hash", "instella-java");
        root.put("date", dateId);
        ObjectNode hashes = root.putObject("task_hashes");
        taskHashes.forEach(hashes::put);
        root.put("model_source", "instellavl");
        root.put("model_name", options.model());
        root.put("model_name_sanitized", sanitized);
        root.putNull("system_instruction");
        root.putNull("system_instruction_sha");
        root.put("fewshot_as_multiturn", false);
        root.putNull("chat_template");
        root.putNull("chat_template_sha");
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        root.put("start_time", "0.0");
        root.put("end_time", PyJson.floatRepr(elapsed));
        root.put("total_evaluation_time_seconds", PyJson.floatRepr(elapsed));
        return root;
    }

    private static ObjectNode taskConfig(String name) {
        EvalTask task = Tasks.byName(name);
        ObjectNode c = JSON.objectNode();
        c.put("task", name);
        c.put("dataset_path", task.dataset().path());
        if (task.dataset().name() != null) c.put("dataset_name", task.dataset().name());
        c.putObject("dataset_kwargs").put("token", true);
        c.put("test_split", task.dataset().split());
        c.put("full_docs", false);
        c.put("process_results_use_image", false);
        c.put("doc_to_visual", "<function " + name + "_doc_to_visual>");
        c.put("doc_to_text", "<function " + name + "_doc_to_text>");
        c.put("description", "");
        c.put("target_delimiter", " ");
        c.put("fewshot_delimiter", "\n\n");
        c.put("num_fewshot", 0);
        ArrayNode metrics = c.putArray("metric_list");
        task.metrics().forEach(m -> metrics.addObject().put("metric", m.name())
                .put("aggregation", m.meanStderr() ? "mean" : "<function " + m.name() + "_aggregate>").put("higher_is_better", true));
        c.put("output_type", "generate_until");
        c.set("generation_kwargs", task.generationKwargs());
        c.put("repeats", 1);
        if (!task.filterName().equals("none")) c.putArray("filter_list").addObject().put("name", task.filterName());
        c.put("should_decontaminate", false);
        c.putObject("metadata").put("version", 0.0);
        if (task.specificKwargs() != null) c.set("lmms_eval_specific_kwargs", task.specificKwargs());
        return c;
    }

    /** lmms-eval's {@code sanitize_model_name}: the last two path components, runs of {@code "<>:/|\?*[]} become "__". */
    public static String sanitizeModelName(String model) {
        String[] parts = model.split("/", -1);
        String lastTwo = parts.length > 1 ? parts[parts.length - 2] + "/" + parts[parts.length - 1] : parts[0];
        return lastTwo.replaceAll("[\"<>:/|\\\\?*\\[\\]]+", "__");
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void write(Path file, String content) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, content, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
