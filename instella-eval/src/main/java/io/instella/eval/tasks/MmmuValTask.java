package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.MmmuParsing;
import io.instella.eval.py.PyLiteral;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code mmmu_val} (tasks/mmmu): rule-based answer parsing, accuracy over subjects rounded to 5 decimals. */
public final class MmmuValTask extends EvalTask {
    static final String MC_PROMPT = "Answer with the option's letter from the given choices directly.";
    static final String OPEN_PROMPT = "Answer the question using a single word or phrase.";
    private static final Pattern IMAGE_TOKEN = Pattern.compile("<image [0-9\\p{Nd}]+>");

    @Override public String name() { return "mmmu_val"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/MMMU", null, "validation");
    }

    @Override public String docToText(JsonNode doc) {
        return constructPrompt(doc, MC_PROMPT, OPEN_PROMPT);
    }

    static boolean isMultipleChoice(JsonNode doc) {
        JsonNode t = Docs.get(doc, "question_type");
        return t.isTextual() && t.textValue().equals("multiple-choice");
    }

    static List<String> options(JsonNode doc) {
        try {
            return PyLiteral.parseStringList(Docs.text(doc, "options"));
        } catch (IllegalArgumentException e) {
            throw new EvalInputException("field 'options': " + e.getMessage());
        }
    }

    static String constructPrompt(JsonNode doc, String mcPrompt, String openPrompt) {
        String question = Docs.format(doc, "question");
        if (isMultipleChoice(doc)) {
            List<String> options = options(doc);
            StringBuilder parsed = new StringBuilder();
            for (int i = 0; i < options.size(); i++) {
                if (i > 0) parsed.append('\n');
                parsed.append((char) ('A' + i)).append(". ").append(options.get(i));
            }
            return question + "\n" + parsed + "\n\n" + mcPrompt;
        }
        return question + "\n\n" + openPrompt;
    }

    @Override public List<String> imageColumns(JsonNode doc) {
        TreeSet<String> tokens = new TreeSet<>();
        Matcher m = IMAGE_TOKEN.matcher(constructPrompt(doc, "", ""));
        while (m.find()) tokens.add(PyStr.strip(m.group(), "<>").replace(" ", "_"));
        return new ArrayList<>(tokens);
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 16, "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("prompt_type", "format", "multiple_choice_prompt", MC_PROMPT, "open_ended_prompt", OPEN_PROMPT);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        ArrayNode parsedPreds = JSON.arrayNode();
        if (isMultipleChoice(doc)) {
            MmmuParsing.ChoiceParse parse = MmmuParsing.parseMultiChoice(response, MmmuParsing.indexToAnswer(options(doc)), state.random());
            if (parse.randomFallback()) {
                state.note("mmmu_val " + Docs.format(doc, "id") + ": no option found in the response; upstream draws a random letter here (got "
                        + parse.letter() + "; not reproducible upstream)");
            }
            parsedPreds.add(parse.letter());
        } else {
            ArrayNode preds = parsedPreds.addArray();
            for (Object p : sortedOpenPreds(MmmuParsing.parseOpen(response))) {
                if (p instanceof Double d) preds.add(d);
                else preds.add((String) p);
            }
        }
        String id = Docs.text(doc, "id");
        ObjectNode acc = JSON.objectNode();
        acc.put("id", id);
        acc.put("subdomain", extractSubsetName(id));
        acc.set("question_type", Docs.get(doc, "question_type").deepCopy());
        acc.set("answer", Docs.get(doc, "answer").deepCopy());
        acc.set("parsed_pred", parsedPreds);
        ObjectNode out = JSON.objectNode();
        out.set("mmmu_acc", acc);
        out.set("mmmu_acc_pass_at_k", acc.deepCopy());
        return out;
    }

    /** Upstream keeps {@code list(set(...))} (no meaningful order); numbers first, then strings, each sorted. */
    static List<Object> sortedOpenPreds(List<Object> preds) {
        List<Object> out = new ArrayList<>(preds);
        out.sort(Comparator.comparing((Object o) -> o instanceof String ? 1 : 0)
                .thenComparing((a, b) -> a instanceof Double da ? Double.compare(da, (Double) b) : compareCodePoints((String) a, (String) b)));
        return out;
    }

    private static int compareCodePoints(String a, String b) {
        return java.util.Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
    }

    /** {@code extract_subset_name}: "validation_Art_Theory_12" gives "Art_Theory". */
    static String extractSubsetName(String id) {
        String split = id.split("_", -1)[0];
        Matcher m;
        try {
            m = Pattern.compile("^" + split + "_(.+?)_[\\p{Nd}]+$").matcher(id);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw new EvalInputException("No match found in \"" + id + "\"");
        }
        if (!m.find()) throw new EvalInputException("No match found in \"" + id + "\"");
        return m.group(1);
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.custom("mmmu_acc", (items, ctx) -> aggregate(items)));
    }

    /** {@code mmmu_aggregate_results}: overall instance-level accuracy over subdomains, rounded to 5 decimals. */
    static JsonNode aggregate(List<JsonNode> items) {
        Map<String, int[]> bySubset = new LinkedHashMap<>();
        for (JsonNode r : items) {
            int[] c = bySubset.computeIfAbsent(r.get("subdomain").textValue(), k -> new int[2]);
            if (isCorrect(r)) c[0]++;
            c[1]++;
        }
        double acc = 0;
        int n = 0;
        for (int[] c : bySubset.values()) {
            acc += ((double) c[0] / c[1]) * c[1];
            n += c[1];
        }
        double overall = n == 0 ? 0 : acc / n;
        return DoubleNode.valueOf(PyStr.round(overall, 5));
    }

    /** {@code evaluate_mmmu} for one record: any parsed prediction judged correct. */
    public static boolean isCorrect(JsonNode record) {
        JsonNode answer = record.get("answer");
        boolean mc = record.get("question_type").isTextual() && record.get("question_type").textValue().equals("multiple-choice");
        for (JsonNode pred : record.get("parsed_pred")) {
            boolean correct;
            if (mc) {
                correct = answer.isTextual() && pred.isTextual() && MmmuParsing.evalMultiChoice(answer.textValue(), pred.textValue());
            } else {
                if (!answer.isTextual()) throw new EvalInputException("MMMU open answer must be a string, got " + answer);
                List<Object> preds = new ArrayList<>();
                for (JsonNode p : pred) preds.add(p.isTextual() ? p.textValue() : (Object) p.doubleValue());
                correct = MmmuParsing.evalOpen(answer.textValue(), preds);
            }
            if (correct) return true;
        }
        return false;
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("MMMU", "mmmu_acc,none", 100);
    }
}
