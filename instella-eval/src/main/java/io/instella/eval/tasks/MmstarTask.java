package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyJson;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code mmstar} (tasks/mmstar): four prefix rules on the lower-cased response, macro average over L2 categories. */
public final class MmstarTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer with the option's letter from the given choices directly";
    static final String REPLACE_PROMPT = " Please answer yes or no.";
    static final List<String> CATEGORIES = List.of("coarse perception", "fine-grained perception", "instance reasoning",
            "logical reasoning", "science & technology", "math");

    @Override public String name() { return "mmstar"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("Lin-Chen/MMStar", null, "val");
    }

    @Override public String docToText(JsonNode doc) {
        String question = PyStr.strip(Docs.text(doc, "question"));
        question = question.replace(REPLACE_PROMPT, "");
        return question + POST_PROMPT;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("until", List.of("\n\n"), "do_sample", false);
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    /** MMStar's {@code exact_match(pred, gt)}. */
    public static double exactMatch(String pred, String gt) {
        String answer = PyStr.strip(PyStr.lower(gt)).replace("\n", " ");
        String predict = PyStr.strip(PyStr.lower(pred)).replace("\n", " ");
        // Any IndexError upstream returns 0.0; every failing index below is such a case.
        String p0 = PyStr.charAt(predict, 0);
        if (p0 == null) return 0.0;
        if (answer.equals(p0)) return 1.0;
        if (p0.equals("(")) {
            String p1 = PyStr.charAt(predict, 1);
            if (p1 == null) return 0.0;
            if (answer.equals(p1)) return 1.0;
        }
        if (PyStr.slice(predict, 0, 7).equals("option ")) {
            String p7 = PyStr.charAt(predict, 7);
            if (p7 == null) return 0.0;
            if (answer.equals(p7)) return 1.0;
        }
        if (PyStr.slice(predict, 0, 14).equals("the answer is ")) {
            String p14 = PyStr.charAt(predict, 14);
            if (p14 == null) return 0.0;
            if (answer.equals(p14)) return 1.0;
        }
        return 0.0;
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        double score = exactMatch(response, Docs.text(doc, "answer"));
        String category = Docs.format(doc, "category");
        JsonNode l2 = Docs.get(doc, "l2_category");
        ObjectNode out = JSON.objectNode();
        for (String key : new String[] {category, "average"}) {
            ObjectNode r = JSON.objectNode();
            r.set("question_id", Docs.get(doc, "index").deepCopy());
            r.set("l2_category", l2.deepCopy());
            r.put("score", score);
            out.set(key, r);
        }
        return out;
    }

    @Override public List<Metric> metrics() {
        List<Metric> m = new ArrayList<>();
        for (String c : CATEGORIES) m.add(Metric.custom(c, (items, ctx) -> aggregate(items)));
        m.add(Metric.custom("average", (items, ctx) -> aggregate(items)));
        return m;
    }

    /** {@code mmstar_aggregate_results}: mean per L2 category, then the plain mean of those means. */
    static JsonNode aggregate(List<JsonNode> items) {
        Map<String, List<Double>> byL2 = new LinkedHashMap<>();
        for (JsonNode r : items) {
            byL2.computeIfAbsent(PyJson.repr(r.get("l2_category")), k -> new ArrayList<>()).add(r.get("score").doubleValue());
        }
        double sumOfMeans = 0;
        for (List<Double> scores : byL2.values()) {
            double s = 0;
            for (double v : scores) s += v;
            sumOfMeans += s / scores.size();
        }
        return DoubleNode.valueOf(sumOfMeans / byL2.size());
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("MMStar", "average,none", 100);
    }
}
