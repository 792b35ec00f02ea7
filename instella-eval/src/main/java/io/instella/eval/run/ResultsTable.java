package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.Tasks;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Instella-VL-1B results table: the 8 general benchmarks and their average, then the 6 OCR/chart/document
 * benchmarks and their average, each value = metric x scale with two decimals. An average is shown only when
 * all of its columns were evaluated.
 */
public final class ResultsTable {
    private ResultsTable() {}

    /** @param aggregates task name to its results entry ({@code "<metric>,<filter>"} keys) */
    public static String render(String modelLabel, Map<String, JsonNode> aggregates, String popeMetric) {
        List<String> header = new ArrayList<>(List.of("Model"));
        List<String> row = new ArrayList<>(List.of(modelLabel));
        addGroup(header, row, Tasks.generalTasks(), aggregates, popeMetric);
        addGroup(header, row, Tasks.ocrTasks(), aggregates, popeMetric);
        int[] widths = new int[header.size()];
        for (int i = 0; i < widths.length; i++) widths[i] = Math.max(header.get(i).length(), row.get(i).length());
        return line(header, widths) + "\n" + separator(widths) + "\n" + line(row, widths) + "\n";
    }

    /** The value a column shows, or null when the task was not evaluated. */
    public static Double columnValue(String task, Map<String, JsonNode> aggregates, String popeMetric) {
        JsonNode agg = aggregates.get(task);
        if (agg == null) return null;
        EvalTask.TableEntry entry = task.equals("pope")
                ? new io.instella.eval.tasks.PopeTask(popeMetric).tableEntry() : Tasks.byName(task).tableEntry();
        JsonNode v = agg.get(entry.metricKey());
        if (v == null || !v.isNumber()) return null;
        return v.doubleValue() * entry.scale();
    }

    private static void addGroup(List<String> header, List<String> row, List<String> tasks, Map<String, JsonNode> aggregates,
                                 String popeMetric) {
        double sum = 0;
        boolean complete = true;
        for (String task : tasks) {
            String column = task.equals("pope") ? "POPE" : Tasks.byName(task).tableEntry().column();
            header.add(column);
            Double v = columnValue(task, aggregates, popeMetric);
            if (v == null) {
                complete = false;
                row.add("--");
            } else {
                // Averages use the two-decimal column values, as the published table does.
                double shown = Double.parseDouble(format(v));
                sum += shown;
                row.add(format(v));
            }
        }
        header.add("Average");
        row.add(complete ? format(sum / tasks.size()) : "--");
    }

    private static String format(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    private static String line(List<String> cells, int[] widths) {
        StringBuilder sb = new StringBuilder("|");
        for (int i = 0; i < cells.size(); i++) {
            sb.append(' ').append(i == 0 ? pad(cells.get(i), widths[i], false) : pad(cells.get(i), widths[i], true)).append(" |");
        }
        return sb.toString();
    }

    private static String separator(int[] widths) {
        StringBuilder sb = new StringBuilder("|");
        for (int i = 0; i < widths.length; i++) {
            sb.append(i == 0 ? "-".repeat(widths[i] + 2) + "|" : "-".repeat(widths[i] + 1) + ":|");
        }
        return sb.toString();
    }

    private static String pad(String s, int width, boolean right) {
        String fill = " ".repeat(Math.max(0, width - s.length()));
        return right ? fill + s : s + fill;
    }
}
