package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ocrbench} (tasks/ocrbench): a gold answer contained in the lower-cased prediction scores 1 (HME100k:
 * spaces removed, gold not lower-cased); the aggregate is the number correct over 1000, whatever the item count.
 */
public final class OcrbenchTask extends EvalTask {
    static final List<String> QUESTION_TYPES = List.of("Regular Text Recognition", "Irregular Text Recognition",
            "Artistic Text Recognition", "Handwriting Recognition", "Digit String Recognition",
            "Non-Semantic Text Recognition", "Scene Text-centric VQA", "Doc-oriented VQA", "Key Information Extraction",
            "Handwritten Mathematical Expression Recognition");

    @Override public String name() { return "ocrbench"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("echo840/OCRBench", null, "test");
    }

    @Override public String docToText(JsonNode doc) {
        return PyStr.strip(Docs.text(doc, "question"));
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
        JsonNode gtAns = Docs.get(doc, "answer");
        boolean hme = Docs.get(doc, "dataset").isTextual() && doc.get("dataset").textValue().equals("HME100k");
        List<String> answers = new ArrayList<>();
        if (gtAns.isArray()) {
            for (JsonNode a : gtAns) {
                if (!a.isTextual()) throw new EvalInputException("field 'answer' must hold strings, has " + Docs.describe(a));
                answers.add(a.textValue());
            }
        } else if (gtAns.isTextual()) {
            answers.add(gtAns.textValue());
        } else {
            throw new EvalInputException("field 'answer' must be a string or a list of strings, got " + Docs.describe(gtAns));
        }
        int score = 0;
        for (String ans : answers) {
            String answer;
            String predict;
            if (hme) {
                answer = PyStr.strip(ans).replace("\n", " ").replace(" ", "");
                predict = PyStr.strip(pred).replace("\n", " ").replace(" ", "");
            } else {
                answer = PyStr.strip(PyStr.lower(ans)).replace("\n", " ");
                predict = PyStr.strip(PyStr.lower(pred)).replace("\n", " ");
            }
            if (predict.contains(answer)) score = 1;
        }
        ObjectNode out = JSON.objectNode();
        ObjectNode r = out.putObject("ocrbench_accuracy");
        r.set("question_type", Docs.get(doc, "question_type").deepCopy());
        r.put("score", score);
        r.put("prediction", pred);
        r.set("ground_truth", gtAns.deepCopy());
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.custom("ocrbench_accuracy", OcrbenchTask::aggregate));
    }

    static JsonNode aggregate(List<JsonNode> items, AggregationContext ctx) {
        Map<String, Integer> scores = new LinkedHashMap<>();
        for (String t : QUESTION_TYPES) scores.put(t, 0);
        for (JsonNode r : items) {
            JsonNode type = r.get("question_type");
            String key = type != null && type.isTextual() ? type.textValue() : String.valueOf(type);
            if (!scores.containsKey(key)) {
                throw new EvalInputException("OCRBench question_type '" + key + "' is not one of the 10 categories " + QUESTION_TYPES);
            }
            scores.merge(key, r.get("score").intValue(), Integer::sum);
        }
        int recognition = 0;
        for (String t : QUESTION_TYPES.subList(0, 6)) recognition += scores.get(t);
        int finalScore = recognition;
        for (String t : QUESTION_TYPES.subList(6, 10)) finalScore += scores.get(t);
        StringBuilder report = new StringBuilder();
        report.append("######################### OCRBench #############################\n");
        report.append("Text Recognition(Total 300): ").append(recognition).append('\n');
        report.append("---------------- Details of Recognition Score ------------------\n");
        for (String t : QUESTION_TYPES.subList(0, 6)) report.append(t).append("(Total 50): ").append(scores.get(t)).append('\n');
        report.append("----------------------------------------------------------------\n");
        report.append("Scene Text-centric VQA(Total 200): ").append(scores.get(QUESTION_TYPES.get(6))).append('\n');
        report.append("----------------------------------------------------------------\n");
        report.append("Doc-oriented VQA(Total 200): ").append(scores.get(QUESTION_TYPES.get(7))).append('\n');
        report.append("----------------------------------------------------------------\n");
        report.append("Key Information Extraction(Total 200): ").append(scores.get(QUESTION_TYPES.get(8))).append('\n');
        report.append("Handwritten Mathematical Expression Recognition(Total 100): ").append(scores.get(QUESTION_TYPES.get(9))).append('\n');
        report.append("--------------------- Final Score ------------------------------\n");
        report.append("Final Score(Total 1000): ").append(finalScore).append('\n');
        ctx.writeSideFile("results", "ocrbench_results.txt", report.toString());
        return DoubleNode.valueOf(finalScore / 1000.0);
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("OCRBench", "ocrbench_accuracy,none", 100);
    }
}
