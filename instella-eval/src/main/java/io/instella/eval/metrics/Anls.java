package io.instella.eval.metrics;

import io.instella.eval.py.PyStr;

import java.util.List;

/**
 * ANLS as lmms-eval's registry {@code anls} computes it (DocVQA, InfographicVQA): the edit distance is taken on
 * whitespace-collapsed, lower-cased strings, but the length that divides it is
 * {@code max(len(gold.upper()), len(prediction.upper()))} on the strings as given, in code points.
 * A score below the threshold 0.5 becomes the integer 0.
 */
public final class Anls {
    private Anls() {}

    /** The per-question score: a float, or {@code null} standing for upstream's integer 0 below the threshold. */
    public static Double score(List<String> references, String prediction) {
        if (references.isEmpty()) {
            throw new IllegalArgumentException("ANLS needs at least one reference answer (upstream: min() of an empty list)");
        }
        String det = String.join(" ", PyStr.split(PyStr.lower(PyStr.strip(prediction))));
        int predLen = PyStr.len(PyStr.upper(prediction));
        double best = Double.POSITIVE_INFINITY;
        for (String answer : references) {
            String gt = String.join(" ", PyStr.split(PyStr.lower(PyStr.strip(answer))));
            int dist = Levenshtein.distance(gt, det);
            int length = Math.max(PyStr.len(PyStr.upper(answer)), predLen);
            double v = length == 0 ? 0.0 : (double) dist / (double) length;
            if (v < best) best = v;
        }
        double result = 1 - best;
        return result < 0.5 ? null : result;
    }
}
