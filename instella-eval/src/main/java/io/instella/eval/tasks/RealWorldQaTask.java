package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.ExactMatch;
import io.instella.eval.metrics.OptionFilters;
import io.instella.eval.py.PyStr;

import java.util.List;

/**
 * {@code realworldqa} (tasks/realworldqa): the {@code flexible-extract} filter (number words to digits, then the
 * option-text lookup in the question) followed by exact_match with ignore_case and ignore_punctuation.
 */
public final class RealWorldQaTask extends EvalTask {

    @Override public String name() { return "realworldqa"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/RealWorldQA", null, "test");
    }

    @Override public String docToText(JsonNode doc) {
        // Default pre/post prompts are empty, so REPLACE_PROMPT is not removed.
        return PyStr.strip(Docs.text(doc, "question"));
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 16, "temperature", 0.0, "top_p", 1.0, "num_beams", 1, "do_sample", false,
                "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", "");
    }

    @Override public String filterName() {
        return "flexible-extract";
    }

    @Override public String applyFilter(String response, JsonNode filterDoc) {
        String digits = OptionFilters.numberWordsToDigits(response);
        return OptionFilters.realWorldQaChoiceText(digits, Docs.text(filterDoc, "question"));
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String gold = Docs.text(doc, "answer");
        return JSON.objectNode().put("exact_match", ExactMatch.score(response, gold, true, true));
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("exact_match"));
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("RealWorldQA", "exact_match,flexible-extract", 100);
    }
}
