package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyJson;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.List;

/** {@code scienceqa_img} (tasks/scienceqa): the stripped response must be exactly the letter, any case. */
public final class ScienceQaImgTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer with the option's letter from the given choices directly.";

    @Override public String name() { return "scienceqa_img"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/ScienceQA", "ScienceQA-IMG", "test");
    }

    @Override public String docToText(JsonNode doc) {
        JsonNode hint = Docs.get(doc, "hint");
        String question = Docs.format(doc, "question");
        List<String> choices = choices(doc);
        StringBuilder choicesStr = new StringBuilder();
        for (int i = 0; i < choices.size(); i++) {
            if (i > 0) choicesStr.append('\n');
            choicesStr.append((char) ('A' + i)).append(". ").append(choices.get(i));
        }
        // Upstream rebinds `context` only when the hint is truthy; a falsy hint is formatted as it is
        // ("" for the real data, "None" if a row had a null hint).
        String context = Docs.truthy(hint) ? "Context: " + PyJson.str(hint) + "\n" : PyJson.str(hint);
        return context + question + "\n" + choicesStr + POST_PROMPT;
    }

    private static List<String> choices(JsonNode doc) {
        JsonNode c = Docs.get(doc, "choices");
        if (!c.isArray()) throw new EvalInputException("field 'choices' must be a list, got " + Docs.describe(c));
        List<String> out = new ArrayList<>();
        for (JsonNode item : c) out.add(PyJson.str(item));
        return out;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return JSON.textNode(target(doc));
    }

    static String target(JsonNode doc) {
        JsonNode answer = Docs.get(doc, "answer");
        if (!answer.isIntegralNumber()) {
            throw new EvalInputException("field 'answer' must be an integer choice index, got " + Docs.describe(answer));
        }
        List<String> letters = new ArrayList<>();
        for (int i = 0; i < choices(doc).size(); i++) letters.add(String.valueOf((char) ('A' + i)));
        return Docs.pyIndex(letters, answer.longValue(), "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 16, "temperature", 0.0, "do_sample", false, "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("format", "default", "pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String target = PyStr.lower(PyStr.strip(target(doc)));
        String pred = PyStr.lower(PyStr.strip(response));
        double score;
        if (pred.equals(target)) {
            score = 1.0;
        } else if (PyStr.len(pred) >= 2 && Character.isUpperCase(pred.codePointAt(0)) && PyStr.charAt(pred, 1).equals(".")) {
            // Upstream's "A." branch; pred is already lower-cased, so it can never score.
            score = PyStr.charAt(pred, 0).equals(target) ? 1.0 : 0.0;
        } else {
            score = 0.0;
        }
        return JSON.objectNode().put("exact_match", score);
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("exact_match"));
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("SQA", "exact_match,none", 100);
    }
}
