package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.Anls;

import java.util.ArrayList;
import java.util.List;

/** {@code docvqa_val} and {@code infovqa_val}: registry ANLS over the list of gold answers. */
public final class AnlsTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer the question using a single word or phrase.";

    private final String name;
    private final DatasetSpec dataset;
    private final String column;

    private AnlsTask(String name, DatasetSpec dataset, String column) {
        this.name = name;
        this.dataset = dataset;
        this.column = column;
    }

    public static AnlsTask docvqaVal() {
        return new AnlsTask("docvqa_val", new DatasetSpec("lmms-lab/DocVQA", "DocVQA", "validation"), "DocVQA");
    }

    public static AnlsTask infovqaVal() {
        return new AnlsTask("infovqa_val", new DatasetSpec("lmms-lab/DocVQA", "InfographicVQA", "validation"), "InfoVQA");
    }

    @Override public String name() { return name; }

    @Override public DatasetSpec dataset() { return dataset; }

    @Override public String docToText(JsonNode doc) {
        return Docs.format(doc, "question") + POST_PROMPT;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answers");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 32, "temperature", 0.0, "do_sample", false, "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        JsonNode gold = Docs.get(doc, "answers");
        List<String> references = new ArrayList<>();
        if (gold.isArray()) {
            for (JsonNode a : gold) {
                if (!a.isTextual()) throw new EvalInputException("field 'answers' must hold strings, has " + Docs.describe(a));
                references.add(a.textValue());
            }
        } else if (gold.isTextual()) {
            // list(gold) of a str: its characters (the task's targets are lists; a lone string is split up upstream).
            gold.textValue().codePoints().forEach(cp -> references.add(new String(Character.toChars(cp))));
        } else {
            throw new EvalInputException("field 'answers' must be a list of strings, got " + Docs.describe(gold));
        }
        if (references.isEmpty()) throw new EvalInputException("field 'answers' is empty; ANLS needs at least one gold answer");
        Double v = Anls.score(references, response);
        ObjectNode out = JSON.objectNode();
        if (v == null) out.put("anls", 0);
        else out.put("anls", v);
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("anls"));
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry(column, "anls,none", 100);
    }
}
