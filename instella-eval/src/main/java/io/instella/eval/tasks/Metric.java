package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;

/**
 * One entry of a task's {@code metric_list}: the per-sample key, its aggregation and whether lmms-eval computes
 * a standard error for it ({@code mean_stderr} only for the registry {@code mean}; "N/A" otherwise).
 */
public record Metric(String name, Aggregation aggregation, boolean meanStderr) {

    /** An aggregation function over the per-sample values of one key, in sample order. */
    @FunctionalInterface
    public interface Aggregation {
        /** The aggregated value; Java null stands for Python None (aggregations that only write a file). */
        JsonNode aggregate(List<JsonNode> items, AggregationContext context);
    }

    /** The registry {@code mean} with {@code mean_stderr}. */
    public static Metric mean(String name) {
        return new Metric(name, Aggregations::mean, true);
    }

    /** A task-specific aggregation ({@code !function ...}): no stderr. */
    public static Metric custom(String name, Aggregation aggregation) {
        return new Metric(name, aggregation, false);
    }
}
