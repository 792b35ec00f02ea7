package io.instella.eval.metrics;

import io.instella.eval.py.PyRandom;
import io.instella.eval.py.PyRegex;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * MMMU answer parsing and judging (tasks/mmmu/utils.py, from the official MMMU repo): multiple-choice letter
 * extraction, open-answer key phrases and numbers, {@code normalize_str} with Python's {@code float()} and
 * {@code round(x, 2)}, and the per-sample judgement.
 *
 * <p>Open-answer predictions are a list of values, each a {@link String} or a {@link Double}.
 */
public final class MmmuParsing {
    private MmmuParsing() {}

    /** The multiple-choice parse; {@code randomFallback} is true where upstream called {@code random.choice}. */
    public record ChoiceParse(String letter, boolean randomFallback) {}

    /** Letters A, B, ... for the options and the letter-to-text map ({@code get_multi_choice_info}). */
    public static Map<String, String> indexToAnswer(List<String> options) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < options.size(); i++) m.put(String.valueOf((char) ('A' + i)), options.get(i));
        return m;
    }

    /** {@code parse_multi_choice_response(response, all_choices, index2ans)}. */
    public static ChoiceParse parseMultiChoice(String response, Map<String, String> index2ans, PyRandom rng) {
        List<String> allChoices = new ArrayList<>(index2ans.keySet());
        for (String ch : new String[] {",", ".", "!", "?", ";", ":", "'"}) {
            response = PyStr.strip(response, ch);
        }
        response = " " + response + " ";

        boolean indexAns = true;
        boolean ansWithBrack = false;
        List<String> candidates = new ArrayList<>();
        for (String choice : allChoices) {
            if (response.contains("(" + choice + ")")) {
                candidates.add(choice);
                ansWithBrack = true;
            }
        }
        if (candidates.isEmpty()) {
            for (String choice : allChoices) {
                if (response.contains(choice + " ")) candidates.add(choice);
            }
        }
        if (candidates.isEmpty()) {
            for (String choice : allChoices) {
                if (response.contains(choice + ".")) candidates.add(choice);
            }
        }
        String responseLower = PyStr.lower(response);
        if (candidates.isEmpty() && PyStr.split(response).size() > 5) {
            for (Map.Entry<String, String> e : index2ans.entrySet()) {
                if (responseLower.contains(PyStr.lower(e.getValue()))) {
                    candidates.add(e.getKey());
                    indexAns = false;
                }
            }
        }
        if (candidates.isEmpty()) {
            return new ChoiceParse(rng.choice(allChoices), true);
        }
        if (candidates.size() == 1) return new ChoiceParse(candidates.get(0), false);
        // Several candidates: the one starting last wins; ties (and all -1) go to the first (np.argmax).
        int best = 0;
        int bestIndex = Integer.MIN_VALUE;
        for (int k = 0; k < candidates.size(); k++) {
            String can = candidates.get(k);
            int index;
            if (indexAns) {
                index = ansWithBrack ? codePointRfind(response, "(" + can + ")") : codePointRfind(response, " " + can + " ");
            } else {
                index = codePointRfind(responseLower, PyStr.lower(index2ans.get(can)));
            }
            if (index > bestIndex) {
                bestIndex = index;
                best = k;
            }
        }
        return new ChoiceParse(candidates.get(best), false);
    }

    private static int codePointRfind(String s, String needle) {
        int i = s.lastIndexOf(needle);
        return i < 0 ? -1 : s.codePointCount(0, i);
    }

    private static final Pattern SUB_RESPONSE_SPLIT = PyRegex.compile("\\.\\s(?=[A-Z])|\\n");
    private static final Pattern NUMBER_COMMAS = PyRegex.compile("-?\\b\\d{1,3}(?:,\\d{3})+\\b");
    private static final Pattern NUMBER_SCIENTIFIC = PyRegex.compile("-?\\d+(?:\\.\\d+)?[eE][+-]?\\d+");
    private static final Pattern NUMBER_SIMPLE = PyRegex.compile("-?(?:\\d+\\.\\d+|\\.\\d+|\\d+\\b)(?![eE][+-]?\\d+)(?![,\\d])");
    private static final List<String> INDICATORS = List.of(
            "could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ");
    private static final List<String> TRIVIAL = List.of(":", ",", ".", "!", "?", ";", "'");

    /** {@code parse_open_response}: the de-duplicated normalised predictions (Strings and Doubles). */
    public static List<Object> parseOpen(String response) {
        List<String> keyResponses = keySubResponses(response);
        List<String> predList = new ArrayList<>(keyResponses);
        for (String resp : keyResponses) predList.addAll(extractNumbers(resp));
        LinkedHashSet<Object> normalized = new LinkedHashSet<>();
        for (String p : predList) normalized.addAll(normalizeStr(p));
        return new ArrayList<>(normalized);
    }

    static List<String> keySubResponses(String response) {
        response = PyStr.lower(PyStr.strip(PyStr.strip(response), "."));
        List<String> subResponses = PyRegex.split(SUB_RESPONSE_SPLIT, response);
        List<String> keyResponses = new ArrayList<>();
        List<String> indicators = new ArrayList<>(INDICATORS);
        for (int index = 0; index < subResponses.size(); index++) {
            String resp = subResponses.get(index);
            if (index == subResponses.size() - 1) indicators.add("=");
            String shortest = null;
            for (String indicator : indicators) {
                if (resp.contains(indicator)) {
                    String cand = PyStr.strip(lastPiece(resp, indicator));
                    if (shortest == null || shortest.isEmpty()) {
                        shortest = cand;
                    } else if (PyStr.len(cand) < PyStr.len(shortest)) {
                        shortest = cand;
                    }
                }
            }
            if (shortest != null && !shortest.isEmpty() && !TRIVIAL.contains(PyStr.strip(shortest))) {
                keyResponses.add(shortest);
            }
        }
        if (keyResponses.isEmpty()) return List.of(response);
        return keyResponses;
    }

    /** {@code s.split(sep)[-1]}. */
    private static String lastPiece(String s, String sep) {
        int i = s.lastIndexOf(sep);
        return i < 0 ? s : s.substring(i + sep.length());
    }

    /** {@code extract_numbers}: comma numbers, then scientific, then simple ones. */
    public static List<String> extractNumbers(String s) {
        List<String> all = new ArrayList<>(PyRegex.findAll(NUMBER_COMMAS, s));
        all.addAll(PyRegex.findAll(NUMBER_SCIENTIFIC, s));
        all.addAll(PyRegex.findAll(NUMBER_SIMPLE, s));
        return all;
    }

    /** {@code normalize_str}: a number rounded to 2 decimals, or the lower-cased string (padded when one character). */
    public static List<Object> normalizeStr(String string) {
        string = PyStr.strip(string);
        Double number = PyStr.parseFloat(string.replace(",", ""));
        if (number != null) {
            return List.of(PyStr.round(number, 2));
        }
        string = PyStr.lower(string);
        if (PyStr.len(string) == 1) return List.of(" " + string, string + " ");
        return List.of(string);
    }

    /** {@code eval_open(gold, preds)} for a string gold. */
    public static boolean evalOpen(String gold, List<Object> preds) {
        List<Object> normAnswers = normalizeStr(gold);
        for (Object pred : preds) {
            if (pred instanceof String sp) {
                for (Object norm : normAnswers) {
                    if (norm instanceof String sn && sp.contains(sn)) return true;
                }
            } else {
                // A float pred: Python's `in` (identity, then ==). NaN never equals a different NaN object.
                double d = (Double) pred;
                for (Object norm : normAnswers) {
                    if (norm instanceof Double dn && dn == d) return true;
                }
            }
        }
        return false;
    }

    /** {@code eval_multi_choice(gold, pred)} for a string gold. */
    public static boolean evalMultiChoice(String gold, String pred) {
        return Objects.equals(gold, pred);
    }
}
