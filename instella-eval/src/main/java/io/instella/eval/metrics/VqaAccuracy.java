package io.instella.eval.metrics;

import io.instella.eval.py.PyMath;

import java.util.ArrayList;
import java.util.List;

/**
 * The VQA "10 choose 9" accuracy of TextVQA ({@code tasks/textvqa/utils.py textvqa_process_results}):
 * for each gold answer, {@code min(1, matches among the other answers / 3)}, then {@code statistics.mean}.
 * Inputs are already EvalAI-normalised.
 */
public final class VqaAccuracy {
    private VqaAccuracy() {}

    /**
     * The accuracy; {@code null} stands for Python's integer 1, which upstream gets when every term is
     * {@code min(1, x)} with x >= 1 (ints stay ints through {@code statistics.mean}).
     */
    public static Double score(List<String> normalizedAnswers, String normalizedResponse) {
        if (normalizedAnswers.isEmpty()) {
            throw new IllegalArgumentException("VQA accuracy needs at least one gold answer (upstream: statistics.mean of an empty list)");
        }
        List<Double> floats = new ArrayList<>();
        boolean allInts = true;
        for (int i = 0; i < normalizedAnswers.size(); i++) {
            int matching = 0;
            for (int j = 0; j < normalizedAnswers.size(); j++) {
                if (j != i && normalizedAnswers.get(j).equals(normalizedResponse)) matching++;
            }
            double x = (double) matching / 3;
            if (x >= 1) {
                floats.add(1.0); // min(1, x) returns the int 1
            } else {
                floats.add(x);
                allInts = false;
            }
        }
        if (allInts) return null;
        return PyMath.exactMean(floats);
    }
}
