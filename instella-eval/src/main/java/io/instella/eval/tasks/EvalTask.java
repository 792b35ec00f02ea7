package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;

/**
 * One lmms-eval task at the pinned commit: where its documents come from, how a document becomes the text
 * prompt ({@code doc_to_text}), the target, the generation kwargs as upstream resolves them, the filter, the
 * per-sample {@code process_results} and the aggregations of {@code metric_list}.
 *
 * <p>Documents are JSON objects holding the dataset row's non-image fields.
 */
public abstract class EvalTask {
    protected static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    /** The lmms-eval task name, e.g. {@code gqa}. */
    public abstract String name();

    /** Hugging Face dataset repo, config and split. */
    public abstract DatasetSpec dataset();

    /** {@code doc_to_text(doc)}: the context string, before the chat template and any {@code <image>} token. */
    public abstract String docToText(JsonNode doc);

    /** {@code doc_to_target(doc)} as upstream logs it (a string, or a list for DocVQA-style tasks). */
    public abstract JsonNode docToTarget(JsonNode doc);

    /** The generation kwargs as {@code TaskConfig} resolves them for model {@code instellavl} (incl. the added {@code until}). */
    public abstract ObjectNode generationKwargs();

    /** The resolved {@code lmms_eval_specific_kwargs} (for the configs section of results.json); may be null. */
    public ObjectNode specificKwargs() {
        return null;
    }

    /** The name of the task's filter pipeline: {@code none} (take-first) unless the YAML has a filter_list. */
    public String filterName() {
        return "none";
    }

    /**
     * The filter applied to the raw (adapter-stripped, not yet re-stripped) response. {@code filterDoc} is the
     * document the filter reads; in a multi-process lmms-eval run that is not always the response's own
     * document (see {@link io.instella.eval.score.Scorer}).
     */
    public String applyFilter(String response, JsonNode filterDoc) {
        return response;
    }

    /**
     * {@code process_results(doc, [response])} where the response has already been {@code str.strip()}ped as
     * {@code ConfigurableTask.process_results} does. May modify {@code doc} in place where upstream does.
     */
    public abstract ObjectNode processResults(ObjectNode doc, String response, ScoringState state);

    /** The {@code metric_list} in YAML order. */
    public abstract List<Metric> metrics();

    /** Image columns of the full row that make up {@code doc_to_visual(doc)}, in order. */
    public List<String> imageColumns(JsonNode doc) {
        return List.of("image");
    }

    /** Images that live in another config of the dataset, looked up by a document field (GQA); null if none. */
    public ExternalImages externalImages() {
        return null;
    }

    /** The metric reported in the results table and its scale (100, or 1 for values already in percent). */
    public abstract TableEntry tableEntry();

    /** Where a task's images live when they are not columns of its own rows. */
    public record ExternalImages(String config, String split, String idColumn, String imageColumn, String docKeyField) {}

    /** A column of the results table. */
    public record TableEntry(String column, String metricKey, double scale) {}

    protected static ObjectNode kwargs(Object... keyValues) {
        ObjectNode o = JSON.objectNode();
        for (int i = 0; i < keyValues.length; i += 2) {
            o.set((String) keyValues[i], toNode(keyValues[i + 1]));
        }
        return o;
    }

    protected static JsonNode toNode(Object v) {
        if (v == null) return JSON.nullNode();
        if (v instanceof String s) return JSON.textNode(s);
        if (v instanceof Integer i) return JSON.numberNode(i);
        if (v instanceof Double d) return JSON.numberNode(d);
        if (v instanceof Boolean b) return JSON.booleanNode(b);
        if (v instanceof List<?> l) {
            var arr = JSON.arrayNode();
            for (Object o : l) arr.add(toNode(o));
            return arr;
        }
        throw new IllegalArgumentException("unsupported kwarg value " + v);
    }
}
