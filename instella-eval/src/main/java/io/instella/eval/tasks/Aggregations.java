package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import io.instella.eval.py.PyMath;

import java.util.List;

/** lmms-eval's registry aggregations ({@code api/metrics.py mean, mean_stderr}). */
public final class Aggregations {
    private Aggregations() {}

    /** {@code sum(items) / len(items)}. */
    public static JsonNode mean(List<JsonNode> items, AggregationContext context) {
        return DoubleNode.valueOf(PyMath.mean(numbers(items, "mean")));
    }

    /** {@code mean_stderr(items)}. */
    public static double meanStderr(List<JsonNode> items) {
        return PyMath.meanStderr(numbers(items, "mean_stderr"));
    }

    static double[] numbers(List<JsonNode> items, String what) {
        double[] v = new double[items.size()];
        for (int i = 0; i < v.length; i++) {
            JsonNode n = items.get(i);
            if (n == null || !n.isNumber()) throw new IllegalArgumentException(what + " needs numbers, item " + i + " is " + n);
            v[i] = n.doubleValue();
        }
        return v;
    }
}
