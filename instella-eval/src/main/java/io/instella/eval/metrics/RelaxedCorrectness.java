package io.instella.eval.metrics;

import io.instella.eval.py.PyStr;

/**
 * ChartQA's {@code relaxed_correctness} (tasks/chartqa/utils.py): numbers within 5 % of a non-zero gold,
 * otherwise a case-insensitive string comparison. Numbers follow Python's {@code float()} (underscores,
 * Unicode digits, inf, nan); a trailing "%" divides by 100.
 */
public final class RelaxedCorrectness {
    private RelaxedCorrectness() {}

    public static boolean isCorrect(String prediction, String target, double maxRelativeChange) {
        Double p = toFloat(prediction);
        Double t = toFloat(target);
        // Python truthiness: a gold of 0.0 falls through to the string comparison; NaN is truthy.
        if (p != null && t != null && t != 0.0) {
            double relativeChange = Math.abs(p - t) / Math.abs(t);
            return relativeChange <= maxRelativeChange;
        }
        return PyStr.lower(prediction).equals(PyStr.lower(target));
    }

    static Double toFloat(String text) {
        if (text.endsWith("%")) {
            Double v = PyStr.parseFloat(PyStr.rstrip(text, "%"));
            return v == null ? null : v / 100.0;
        }
        return PyStr.parseFloat(text);
    }
}
