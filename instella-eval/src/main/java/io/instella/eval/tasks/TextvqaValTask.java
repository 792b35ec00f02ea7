package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.EvalAiAnswerProcessor;
import io.instella.eval.metrics.VqaAccuracy;
import io.instella.eval.py.PyJson;
import io.instella.eval.py.PyStr;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code textvqa_val} (tasks/textvqa): EvalAI normalisation and the VQA 10-choose-9 accuracy. As upstream, the
 * document's {@code answers} are replaced by their normalised forms (so the samples file logs those).
 */
public final class TextvqaValTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer the question using a single word or phrase.";

    @Override public String name() { return "textvqa_val"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/textvqa", null, "validation");
    }

    @Override public String docToText(JsonNode doc) {
        return PyStr.capitalize(Docs.text(doc, "question")) + POST_PROMPT;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        // doc_to_target "answer" is not a column: rendered as a template it is the literal text.
        return JSON.textNode("answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("until", List.of("ASSISTANT:"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", POST_PROMPT, "ocr", false);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String resAns = EvalAiAnswerProcessor.process(response);
        JsonNode answersNode = doc.get("answers");
        ObjectNode out = JSON.objectNode();
        if (answersNode != null && !answersNode.isNull()) {
            if (!answersNode.isArray()) throw new EvalInputException("field 'answers' must be a list of strings, got " + Docs.describe(answersNode));
            List<String> normalized = new ArrayList<>();
            ArrayNode mutated = JSON.arrayNode();
            for (JsonNode a : answersNode) {
                if (!a.isTextual()) throw new EvalInputException("field 'answers' must hold strings, has " + Docs.describe(a));
                String n = EvalAiAnswerProcessor.process(a.textValue());
                normalized.add(n);
                mutated.add(n);
            }
            doc.set("answers", mutated);
            Double acc = VqaAccuracy.score(normalized, resAns);
            if (acc == null) out.put("exact_match", 1);
            else out.put("exact_match", acc);
        } else {
            out.put("exact_match", 0);
        }
        ObjectNode submission = out.putObject("submission");
        submission.set("question_id", Docs.get(doc, "question_id").deepCopy());
        submission.put("answer", resAns);
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("exact_match"), Metric.custom("submission", TextvqaValTask::writeSubmission));
    }

    static JsonNode writeSubmission(List<JsonNode> items, AggregationContext ctx) {
        ArrayNode all = JSON.arrayNode();
        items.forEach(all::add);
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd-HH-mm-ss"));
        ctx.writeSideFile("submissions", "textvqa_submission_" + stamp + ".json", PyJson.dumps(all));
        return null;
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("TextVQA", "exact_match,none", 100);
    }
}
