package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyStr;

import java.util.List;

/**
 * {@code pope} (tasks/pope). Every aggregate pools all items. Precision counts FP only for a prediction of exactly
 * "yes" on a "no" question, recall counts FN only for exactly "no" on a "yes" question, and the yes-ratio is the
 * ground truth's. Guarded divisions return the integer 0, as upstream.
 */
public final class PopeTask extends EvalTask {
    static final String[] KEYS = {"pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio"};

    private final String tableMetric;

    /** @param tableMetric which aggregate the results table shows: {@code pope_f1_score} or {@code pope_accuracy} */
    public PopeTask(String tableMetric) {
        if (!tableMetric.equals("pope_f1_score") && !tableMetric.equals("pope_accuracy")) {
            throw new IllegalArgumentException("POPE table metric must be pope_f1_score or pope_accuracy, got " + tableMetric);
        }
        this.tableMetric = tableMetric;
    }

    public PopeTask() {
        this("pope_f1_score");
    }

    @Override public String name() { return "pope"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/POPE", null, "test");
    }

    @Override public String docToText(JsonNode doc) {
        return PyStr.strip(Docs.text(doc, "question")) + "\nAnswer the question using a single word or phrase.";
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 128, "temperature", 0.0, "top_p", 1.0, "num_beams", 1, "do_sample", false,
                "until", List.of("\n\n"));
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String pred = PyStr.strip(PyStr.lower(response));
        String gt = PyStr.strip(PyStr.lower(Docs.text(doc, "answer")));
        if (!gt.equals("yes") && !gt.equals("no")) {
            throw new EvalInputException("POPE answer must be 'yes' or 'no', got '" + gt + "'");
        }
        double score = pred.equals(gt) ? 1.0 : 0.0;
        ObjectNode out = JSON.objectNode();
        for (String key : KEYS) {
            ObjectNode r = out.putObject(key);
            r.set("question_id", Docs.get(doc, "question_id").deepCopy());
            r.put("score", score);
            r.put("prediction", pred);
            r.put("ground_truth", gt);
        }
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(
                Metric.custom("pope_accuracy", (items, ctx) -> accuracy(items)),
                Metric.custom("pope_precision", (items, ctx) -> precision(items)),
                Metric.custom("pope_recall", (items, ctx) -> recall(items)),
                Metric.custom("pope_f1_score", (items, ctx) -> f1(items)),
                Metric.custom("pope_yes_ratio", (items, ctx) -> yesRatio(items)));
    }

    static JsonNode accuracy(List<JsonNode> items) {
        double total = 0;
        for (JsonNode r : items) total += r.get("score").doubleValue();
        return DoubleNode.valueOf(total / items.size());
    }

    private static boolean is(JsonNode r, String field, String value) {
        JsonNode v = r.get(field);
        return v != null && v.isTextual() && v.textValue().equals(value);
    }

    static JsonNode precision(List<JsonNode> items) {
        int tp = 0;
        int fp = 0;
        for (JsonNode r : items) {
            if (is(r, "ground_truth", "yes") && is(r, "prediction", "yes")) tp++;
            else if (is(r, "ground_truth", "no") && is(r, "prediction", "yes")) fp++;
        }
        return tp + fp > 0 ? DoubleNode.valueOf((double) tp / (tp + fp)) : IntNode.valueOf(0);
    }

    static JsonNode recall(List<JsonNode> items) {
        int tp = 0;
        int fn = 0;
        for (JsonNode r : items) {
            if (is(r, "ground_truth", "yes") && is(r, "prediction", "yes")) tp++;
            else if (is(r, "ground_truth", "yes") && is(r, "prediction", "no")) fn++;
        }
        return tp + fn > 0 ? DoubleNode.valueOf((double) tp / (tp + fn)) : IntNode.valueOf(0);
    }

    static JsonNode f1(List<JsonNode> items) {
        double p = precision(items).doubleValue();
        double r = recall(items).doubleValue();
        return p + r > 0 ? DoubleNode.valueOf(2 * (p * r) / (p + r)) : IntNode.valueOf(0);
    }

    static JsonNode yesRatio(List<JsonNode> items) {
        int yes = 0;
        int no = 0;
        for (JsonNode r : items) {
            if (is(r, "ground_truth", "yes")) yes++;
            else if (is(r, "ground_truth", "no")) no++;
        }
        return yes + no > 0 ? DoubleNode.valueOf((double) yes / (yes + no)) : IntNode.valueOf(0);
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("POPE", tableMetric + ",none", 100);
    }
}
