package io.instella.eval.metrics;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.eval.py.PyJson;
import io.instella.eval.py.PyRandom;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * MMBench CircularEval as lmms-eval's {@code MMBench_Evaluator.eval_result} runs it without an OpenAI key:
 * rows are grouped by {@code index % 1_000_000}; a group is a hit only if every rotated copy is answered
 * correctly. Answers are read with {@code can_infer_option}/{@code can_infer_text}; a row neither resolves gets
 * {@code ("ABCD" + "E")[random.randint(0, 4)]} from CPython's generator re-seeded with 2680, which is what
 * upstream's {@code extract_answer_from_item} does once the GPT judge has failed 3 times.
 */
public final class MmbenchEvaluator {
    private MmbenchEvaluator() {}

    /** Upstream's message for a random letter. */
    public static final String RANDOM_MESSAGE = "Failed to predict, thus randomly generate one. ";
    public static final long CIRCULAR_OFFSET = 1_000_000L;
    private static final int SEED = 2680;
    private static final String LETTERS = "ABCDE";

    /** One call of {@code extract_answer_from_item} (only rows the prefetch could not resolve reach it). */
    public record ExtractorCall(long index, String answer, String message) {}

    /** Outcome of {@code eval_result}: hit rate (0..1), per-category rates, per-group hits and extractor calls. */
    public record Result(double overallAcc, Map<String, Double> categoryAcc, Map<String, Double> l2CategoryAcc,
                         Map<Long, Integer> hits, List<ExtractorCall> extractorCalls) {}

    /** {@code can_infer_option(answer)}: a letter from A–E, or null (upstream's False). */
    public static String canInferOption(String answer) {
        if (answer.contains("Failed to obtain answer via API")) return null;
        List<String> splits = new ArrayList<>();
        for (String x : PyStr.split(answer)) splits.add(PyStr.strip(x));
        if (count(splits, "", "") == 1) {
            for (int i = 0; i < LETTERS.length(); i++) {
                String ch = LETTERS.substring(i, i + 1);
                if (splits.contains("A") && splits.size() > 3) break; // "A" is probably an article
                if (splits.contains(ch)) return ch;
            }
        }
        String[][] tups = {{"", "."}, {"", ","}, {"", ":"}, {"", ")"}, {"", ")."}, {"(", ")"}, {"(", ")."},
                {":", ""}, {":", ","}, {":", "."}, {":", ")"}, {":", ")."}};
        for (String[] t : tups) {
            if (count(splits, t[0], t[1]) == 1) {
                for (int i = 0; i < LETTERS.length(); i++) {
                    String ch = LETTERS.substring(i, i + 1);
                    if (splits.contains(t[0] + ch + t[1])) return ch;
                }
            }
        }
        return null;
    }

    private static int count(List<String> splits, String prefix, String suffix) {
        int cnt = 0;
        for (int i = 0; i < LETTERS.length(); i++) {
            if (splits.contains(prefix + LETTERS.charAt(i) + suffix)) cnt++;
        }
        return cnt;
    }

    /** {@code can_infer_text(answer, choices)}: the single letter whose option text occurs in the answer, or null. */
    public static String canInferText(String answer, Map<String, String> choices) {
        String a = PyStr.lower(answer);
        List<String> cands = new ArrayList<>();
        for (Map.Entry<String, String> e : choices.entrySet()) {
            if (a.contains(PyStr.lower(e.getValue()))) cands.add(e.getKey());
        }
        return cands.size() == 1 ? cands.get(0) : null;
    }

    /** {@code can_infer(answer, choices)}. */
    public static String canInfer(String answer, Map<String, String> choices) {
        String opt = canInferOption(answer);
        return opt != null ? opt : canInferText(answer, choices);
    }

    /** {@code build_choices(row)}: A–D whose value is not null (the string "nan" counts as present), as str(). */
    public static Map<String, String> buildChoices(JsonNode row) {
        Map<String, String> choices = new LinkedHashMap<>();
        for (String ch : new String[] {"A", "B", "C", "D"}) {
            JsonNode v = row.get(ch);
            if (v == null) {
                throw new IllegalArgumentException("MMBench record has no column '" + ch + "'");
            }
            if (!v.isNull() && !(v.isNumber() && Double.isNaN(v.doubleValue()))) choices.put(ch, PyJson.str(v));
        }
        return choices;
    }

    /** {@code prefetch_answer(row)}. */
    public static String prefetchAnswer(JsonNode row) {
        return canInfer(prediction(row), buildChoices(row));
    }

    private static String prediction(JsonNode row) {
        JsonNode p = row.get("prediction");
        return p == null ? "None" : PyJson.str(p);
    }

    /** {@code eval_result(records)} on the {@code gpt_eval_score} records (any order). */
    public static Result evalResult(List<JsonNode> records) {
        PyRandom rng = new PyRandom(SEED);
        List<JsonNode> data = new ArrayList<>(records);
        data.sort(Comparator.comparingLong(MmbenchEvaluator::index));
        Map<Long, String> answerMap = new HashMap<>();
        Map<Long, String> categoryMap = new HashMap<>();
        Map<Long, String> l2Map = new HashMap<>();
        for (JsonNode r : data) {
            answerMap.put(index(r), text(r, "answer"));
            categoryMap.put(index(r), text(r, "category"));
            l2Map.put(index(r), text(r, "L2-category"));
        }
        List<ExtractorCall> calls = new ArrayList<>();
        Map<Long, Integer> result = new LinkedHashMap<>();
        List<Long> mainIndices = new ArrayList<>();
        for (JsonNode r : data) {
            long idx = index(r);
            if (idx >= CIRCULAR_OFFSET) continue;
            mainIndices.add(idx);
            if (result.containsKey(idx)) continue;
            List<JsonNode> sub = new ArrayList<>();
            for (JsonNode s : data) {
                if (Math.floorMod(index(s), CIRCULAR_OFFSET) == idx) sub.add(s);
            }
            result.put(idx, evalSubData(sub, answerMap, rng, calls));
        }
        double overall = Double.NaN;
        Map<String, double[]> cat = new TreeMap<>();
        Map<String, double[]> l2 = new TreeMap<>();
        if (!mainIndices.isEmpty()) {
            double hitSum = 0;
            for (long idx : mainIndices) {
                int hit = result.get(idx);
                hitSum += hit;
                accumulate(cat, categoryMap.get(idx), hit);
                accumulate(l2, l2Map.get(idx), hit);
            }
            overall = hitSum / mainIndices.size();
        }
        return new Result(overall, rates(cat), rates(l2), result, calls);
    }

    private static void accumulate(Map<String, double[]> m, String key, int hit) {
        double[] acc = m.computeIfAbsent(key == null ? "None" : key, k -> new double[2]);
        acc[0] += hit;
        acc[1] += 1;
    }

    private static Map<String, Double> rates(Map<String, double[]> m) {
        Map<String, Double> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(k, v[0] / v[1]));
        return out;
    }

    private static int evalSubData(List<JsonNode> sub, Map<Long, String> answerMap, PyRandom rng, List<ExtractorCall> calls) {
        List<String> gt = new ArrayList<>();
        List<String> pred = new ArrayList<>();
        for (JsonNode item : sub) {
            gt.add(answerMap.get(index(item)));
            pred.add(prefetchAnswer(item));
            String last = pred.get(pred.size() - 1);
            if (last != null && !last.equals(gt.get(gt.size() - 1))) return 0;
        }
        for (int i = 0; i < sub.size(); i++) {
            if (pred.get(i) != null) continue;
            String letter = extractAnswerFromItem(sub.get(i), rng);
            calls.add(new ExtractorCall(index(sub.get(i)), letter, RANDOM_MESSAGE));
            if (!letter.equals(gt.get(i))) return 0;
        }
        return 1;
    }

    /**
     * {@code extract_answer_from_item} after can_infer failed and the judge is unreachable: the number of
     * options is the count of A–D column labels (always 4), so the draw is over "ABCDE".
     */
    private static String extractAnswerFromItem(JsonNode item, PyRandom rng) {
        String chars = "ABCD" + "E";
        return String.valueOf(chars.charAt(rng.randint(0, chars.length() - 1)));
    }

    private static long index(JsonNode r) {
        JsonNode v = r.get("index");
        if (v == null || !v.isNumber()) throw new IllegalArgumentException("MMBench record needs a numeric 'index', got " + v);
        return v.longValue();
    }

    private static String text(JsonNode r, String key) {
        JsonNode v = r.get(key);
        return v == null || v.isNull() ? null : PyJson.str(v);
    }
}
