package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.ExactMatch;
import io.instella.eval.metrics.OptionFilters;
import io.instella.eval.py.PyJson;

import java.util.ArrayList;
import java.util.List;

/** {@code ai2d} (tasks/ai2d): mcq prompt, leading "X." letter filter, exact_match against the letter. */
public final class Ai2dTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer with the option's letter from the given choices directly.";

    @Override public String name() { return "ai2d"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/ai2d", null, "test");
    }

    private static List<String> options(JsonNode doc) {
        JsonNode o = Docs.get(doc, "options");
        if (!o.isArray()) throw new EvalInputException("field 'options' must be a list, got " + Docs.describe(o));
        List<String> out = new ArrayList<>();
        for (JsonNode item : o) out.add(PyJson.str(item));
        return out;
    }

    @Override public String docToText(JsonNode doc) {
        String question = Docs.format(doc, "question");
        List<String> options = options(doc);
        StringBuilder choices = new StringBuilder();
        for (int i = 0; i < options.size(); i++) {
            if (i > 0) choices.append('\n');
            choices.append((char) ('A' + i)).append(". ").append(options.get(i));
        }
        return question + "\n" + choices + POST_PROMPT;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return JSON.textNode(target(doc));
    }

    static String target(JsonNode doc) {
        List<String> letters = new ArrayList<>();
        for (int i = 0; i < options(doc).size(); i++) letters.add(String.valueOf((char) ('A' + i)));
        return Docs.pyIndex(letters, PyInt.parse(Docs.get(doc, "answer"), "answer"), "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 16, "temperature", 0.0, "do_sample", false, "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("prompt_format", "mcq", "pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    @Override public String filterName() {
        return "flexible-extract";
    }

    @Override public String applyFilter(String response, JsonNode filterDoc) {
        return OptionFilters.leadingLetter(response);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        return JSON.objectNode().put("exact_match", ExactMatch.score(response, target(doc), true, true));
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("exact_match"));
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("AI2D", "exact_match,flexible-extract", 100);
    }
}
