package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyJson;
import io.instella.eval.py.PyStr;

import java.util.List;

/** {@code seedbench} (tasks/seedbench): the first character of the stripped response is the answer. */
public final class SeedbenchTask extends EvalTask {

    @Override public String name() { return "seedbench"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/SEED-Bench", null, "test");
    }

    @Override public String docToText(JsonNode doc) {
        String question = Docs.text(doc, "question");
        question += "\nA. " + Docs.format(doc, "choice_a") + "\n";
        question += "B. " + Docs.format(doc, "choice_b") + "\n";
        question += "C. " + Docs.format(doc, "choice_c") + "\n";
        question += "D. " + Docs.format(doc, "choice_d");
        return question + "\nAnswer with the option's letter from the given choices directly.";
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("until", List.of("ASSISTANT:"), "image_aspect_ratio", "original");
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String pred = PyStr.strip(response);
        if (PyStr.len(pred) > 1) pred = PyStr.charAt(pred, 0);
        JsonNode answer = Docs.get(doc, "answer");
        String dataType = Docs.format(doc, "data_type");
        ObjectNode out = JSON.objectNode();
        for (String key : new String[] {"seed_" + dataType, "seed_all"}) {
            ObjectNode r = out.putObject(key);
            r.put("pred", pred);
            r.set("answer", answer.deepCopy());
            r.set("question_id", Docs.get(doc, "question_id").deepCopy());
        }
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(
                Metric.custom("seed_image", (items, ctx) -> aggregate(items)),
                Metric.custom("seed_video", (items, ctx) -> aggregate(items)),
                Metric.custom("seed_all", (items, ctx) -> aggregate(items)));
    }

    /** {@code seed_aggregation_result}: share of items whose pred equals the answer, case-insensitively. */
    static JsonNode aggregate(List<JsonNode> items) {
        int correct = 0;
        for (JsonNode r : items) {
            String pred = PyStr.strip(PyStr.lower(PyJson.str(r.get("pred"))));
            JsonNode answer = r.get("answer");
            if (answer == null || !answer.isTextual()) {
                throw new EvalInputException("SEED-Bench answer must be a string, got " + answer);
            }
            if (pred.equals(PyStr.strip(PyStr.lower(answer.textValue())))) correct++;
        }
        return DoubleNode.valueOf((double) correct / items.size());
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("SEED-Bench", "seed_image,none", 100);
    }
}
