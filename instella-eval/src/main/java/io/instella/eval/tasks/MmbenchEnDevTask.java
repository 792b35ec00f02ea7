package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.MmbenchEvaluator;
import io.instella.eval.py.PyJson;
import io.instella.eval.py.PyStr;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** {@code mmbench_en_dev} (tasks/mmbench): CircularEval over the rotated copies, no-API answer extraction. */
public final class MmbenchEnDevTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer with the option's letter from the given choices directly.";
    static final String SYS_PROMPT = "There are several options:";
    private static final String[] OPTION_CANDIDATES = {"A", "B", "C", "D", "E"};

    @Override public String name() { return "mmbench_en_dev"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/MMBench", "en", "dev");
    }

    @Override public String docToText(JsonNode doc) {
        // create_options_prompt: candidate keys present in the doc with a truthy value, sorted.
        Map<String, JsonNode> options = new TreeMap<>();
        for (String c : OPTION_CANDIDATES) {
            JsonNode v = doc.get(c);
            if (v != null && Docs.truthy(v)) options.put(c, v);
        }
        StringBuilder optionsPrompt = new StringBuilder(SYS_PROMPT).append('\n');
        options.forEach((key, item) -> {
            if (notNa(item) && !(item.isTextual() && item.textValue().equals("nan"))) {
                optionsPrompt.append(key).append(". ").append(PyJson.str(item)).append('\n');
            }
        });
        String optionsText = PyStr.rstrip(optionsPrompt.toString(), "\n");
        // mmbench_doc_to_text reads these keys (KeyError upstream when absent).
        for (String key : new String[] {"category", "L2-category", "index", "source", "split"}) Docs.get(doc, key);
        String question = Docs.format(doc, "question");
        JsonNode hint = Docs.get(doc, "hint");
        String query = notNa(hint) && !(hint.isTextual() && hint.textValue().equals("nan"))
                ? PyJson.str(hint) + " " + question + " " + optionsText
                : question + " " + optionsText;
        return query + "\n" + POST_PROMPT;
    }

    /** {@code pd.notna(v)}: false for None and float NaN. */
    private static boolean notNa(JsonNode v) {
        return !(v.isNull() || (v.isNumber() && Double.isNaN(v.doubleValue())));
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("until", List.of("ASSISTANT:"), "max_new_tokens", 1024, "temperature", 0.0, "top_p", 1.0,
                "num_beams", 1, "do_sample", false);
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String prediction = PyStr.strip(response);
        ObjectNode out = JSON.objectNode();
        for (String key : new String[] {"gpt_eval_score", "submission"}) {
            ObjectNode r = out.putObject(key);
            r.set("index", Docs.get(doc, "index").deepCopy());
            r.set("question", Docs.get(doc, "question").deepCopy());
            r.set("answer", Docs.get(doc, "answer").deepCopy());
            r.put("prediction", prediction);
            for (String f : new String[] {"hint", "source", "split", "category", "L2-category"}) {
                r.set(f, Docs.get(doc, f).deepCopy());
            }
        }
        for (String c : OPTION_CANDIDATES) {
            JsonNode v = doc.get(c);
            JsonNode value = v == null ? JSON.textNode("nan") : v;
            ((ObjectNode) out.get("submission")).set(c, value.deepCopy());
            ((ObjectNode) out.get("gpt_eval_score")).set(c, value.deepCopy());
        }
        return out;
    }

    @Override public List<Metric> metrics() {
        return List.of(
                Metric.custom("gpt_eval_score", MmbenchEnDevTask::aggregateEval),
                Metric.custom("submission", (items, ctx) -> null));
    }

    static JsonNode aggregateEval(List<JsonNode> items, AggregationContext ctx) {
        MmbenchEvaluator.Result r = MmbenchEvaluator.evalResult(items);
        ObjectNode details = JSON.objectNode();
        details.put("overall_acc", r.overallAcc());
        ObjectNode cat = details.putObject("category_acc");
        r.categoryAcc().forEach(cat::put);
        ObjectNode l2 = details.putObject("l2_category_acc");
        r.l2CategoryAcc().forEach(l2::put);
        ctx.writeSideFile("submissions", "mmbench_en_dev_results.json", PyJson.dumps(details));
        if (!r.extractorCalls().isEmpty()) {
            ctx.note("mmbench_en_dev: " + r.extractorCalls().size()
                    + " answer(s) could not be read and got a random letter (upstream's no-API fallback, seed 2680)");
        }
        return DoubleNode.valueOf(r.overallAcc() * 100);
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("MM-Bench", "gpt_eval_score,none", 1);
    }
}
