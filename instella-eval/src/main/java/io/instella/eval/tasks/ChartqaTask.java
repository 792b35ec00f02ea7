package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.RelaxedCorrectness;

import java.util.List;

/** {@code chartqa} (tasks/chartqa): relaxed accuracy (5 %), reported overall and per split. */
public final class ChartqaTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer the question with a single word.";

    @Override public String name() { return "chartqa"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/ChartQA", null, "test");
    }

    @Override public String docToText(JsonNode doc) {
        return Docs.format(doc, "question") + POST_PROMPT;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 16, "temperature", 0.0, "do_sample", false, "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        JsonNode type = Docs.get(doc, "type");
        double score = RelaxedCorrectness.isCorrect(response, Docs.text(doc, "answer"), 0.05) ? 1.0 : 0.0;
        ObjectNode out = JSON.objectNode().put("relaxed_overall", score);
        if (type.isTextual() && type.textValue().equals("human_test")) out.put("relaxed_human_split", score);
        else out.put("relaxed_augmented_split", score);
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("relaxed_overall"), Metric.mean("relaxed_human_split"), Metric.mean("relaxed_augmented_split"));
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("ChartQA", "relaxed_overall,none", 100);
    }
}
