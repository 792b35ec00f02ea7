package io.instella.eval.score;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyStr;
import io.instella.eval.tasks.AggregationContext;
import io.instella.eval.tasks.EvalInputException;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.Aggregations;
import io.instella.eval.tasks.Metric;
import io.instella.eval.tasks.ScoringState;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * lmms-eval's post-processing of one task's responses: filters, per-sample {@code process_results} (on the
 * stripped filtered response), and the aggregation of every {@code (metric, filter)} key into the entry that
 * {@code results.json} holds for the task.
 *
 * <p>{@code worldSize} emulates an lmms-eval run with that many processes. It only matters where upstream's
 * behaviour depends on it: a task's filter pairs the k-th response of a rank with the k-th document of the
 * whole split (so RealWorldQA looks option texts up in the wrong question), and the aggregations receive the
 * values rank by rank. {@code worldSize = 1} is the correct behaviour; Instella's published numbers came from 8.
 */
public final class Scorer {
    private Scorer() {}

    /** One document (its non-image fields) and the model's raw response. */
    public record Input(ObjectNode doc, String prediction) {}

    /** One scored document. {@code doc} is the document after process_results (TextVQA normalises its answers). */
    public record Sample(int docId, int rank, String prompt, JsonNode target, String response, String filtered,
                         ObjectNode doc, ObjectNode result, List<String> notes) {}

    /**
     * The scores of one task. {@code samples} is in input order; {@code logOrder} is the order lmms-eval writes
     * them (rank by rank); {@code aggregate} maps {@code "<metric>,<filter>"} and {@code "<metric>_stderr,<filter>"}
     * to values as in results.json (without "alias" and "samples").
     */
    public record Result(List<Sample> samples, List<Sample> logOrder, ObjectNode aggregate, int sampleCount, List<String> notes) {}

    /** Thrown for an input the task cannot score; {@code index} is the input's 0-based position. */
    public static final class InputError extends RuntimeException {
        private final int index;

        public InputError(int index, String message, Throwable cause) {
            super(message, cause);
            this.index = index;
        }

        public int index() {
            return index;
        }
    }

    public static Result score(EvalTask task, List<Input> inputs, int worldSize, AggregationContext context) {
        if (worldSize < 1) throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
        ScoringState state = new ScoringState();
        String filterKey = task.filterName();
        Sample[] byDoc = new Sample[inputs.size()];
        List<Sample> logOrder = new ArrayList<>();
        // Per rank: sample_metrics in that rank's doc order; gathered rank-major afterwards.
        List<Map<String, List<JsonNode>>> rankMetrics = new ArrayList<>();
        for (int rank = 0; rank < worldSize; rank++) {
            Map<String, List<JsonNode>> metrics = new LinkedHashMap<>();
            int k = 0;
            for (int docId = rank; docId < inputs.size(); docId += worldSize, k++) {
                Input in = inputs.get(docId);
                try {
                    ObjectNode doc = in.doc().deepCopy();
                    String prompt = task.docToText(doc);
                    // The filter reads task_docs[k]: the k-th document of the split, not necessarily this one.
                    String filtered = task.applyFilter(in.prediction(), inputs.get(k).doc());
                    ObjectNode result = task.processResults(doc, PyStr.strip(filtered), state);
                    JsonNode target = task.docToTarget(doc);
                    Sample s = new Sample(docId, rank, prompt, target, in.prediction(), filtered, doc, result, state.drainNotes());
                    byDoc[docId] = s;
                    logOrder.add(s);
                    for (Map.Entry<String, JsonNode> e : result.properties()) {
                        metrics.computeIfAbsent(e.getKey(), x -> new ArrayList<>()).add(e.getValue());
                    }
                } catch (EvalInputException | IllegalArgumentException e) {
                    throw new InputError(docId, e.getMessage(), e);
                }
            }
            rankMetrics.add(metrics);
        }
        // gather_object follows rank 0's keys.
        Map<String, List<JsonNode>> gathered = new LinkedHashMap<>();
        for (String key : rankMetrics.get(0).keySet()) {
            List<JsonNode> all = new ArrayList<>();
            for (Map<String, List<JsonNode>> m : rankMetrics) all.addAll(m.getOrDefault(key, List.of()));
            gathered.put(key, all);
        }
        Aggregated agg = aggregate(task, gathered, filterKey, context);
        List<String> notes = new ArrayList<>();
        for (Sample s : byDoc) notes.addAll(s.notes());
        notes.addAll(context.notes());
        return new Result(List.of(byDoc), logOrder, agg.values, agg.sampleCount, notes);
    }

    private record Aggregated(ObjectNode values, int sampleCount) {}

    private static Aggregated aggregate(EvalTask task, Map<String, List<JsonNode>> sampleMetrics, String filterKey,
                                        AggregationContext context) {
        Map<String, Metric> byName = new LinkedHashMap<>();
        for (Metric m : task.metrics()) byName.put(m.name(), m);
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        int sampleCount = 0;
        for (Map.Entry<String, List<JsonNode>> e : sampleMetrics.entrySet()) {
            String metric = e.getKey();
            List<JsonNode> items = e.getValue();
            String valueKey = metric + "," + filterKey;
            String stderrKey = metric + "_stderr," + filterKey;
            Metric m = byName.get(metric);
            if (m == null) {
                // process_results returned a key outside metric_list: upstream's defaultdict yields [] for both.
                out.putArray(valueKey);
                out.putArray(stderrKey);
                continue;
            }
            JsonNode value = m.aggregation().aggregate(items, context);
            out.set(valueKey, value == null ? NullNode.getInstance() : value);
            sampleCount = items.size();
            if (m.meanStderr() && items.size() > 1) out.set(stderrKey, DoubleNode.valueOf(Aggregations.meanStderr(items)));
            else out.put(stderrKey, "N/A");
        }
        return new Aggregated(out, sampleCount);
    }
}
