package io.instella.spark.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.run.EvalRunner;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Runs and compares evaluation output trees. */
public final class EvalOutputs {
    static final Clock CLOCK = Clock.fixed(Instant.parse("2025-03-01T00:00:00Z"), ZoneOffset.UTC);
    /** The fields of results.json that measure the run rather than describe its results. */
    static final List<String> TIMINGS = List.of("date", "start_time", "end_time", "total_evaluation_time_seconds");
    private static final ObjectMapper JSON = new ObjectMapper();

    private EvalOutputs() {
    }

    public static EvalRunner.Options options(String model, List<String> tasks, Integer limit, Path output, Path data) {
        return new EvalRunner.Options(model, tasks, limit, output, data, 1, "pope_f1_score");
    }

    public static EvalRunner runner(EvalRunner.Options options) {
        return new EvalRunner(options, new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()), CLOCK, false);
    }

    /**
     * Both trees hold the same files (names compared without the run's date prefix) with the same bytes; results.json
     * is compared as JSON without {@link #TIMINGS}.
     */
    public static void assertSameFiles(Path expected, Path actual) throws IOException {
        Map<String, Path> a = files(expected), b = files(actual);
        assertThat(b.keySet()).isEqualTo(a.keySet());
        assertThat(a.keySet()).anyMatch(n -> n.endsWith("_results.json")).anyMatch(n -> n.contains("_samples_"))
                .anyMatch(n -> n.contains("journal/"));
        for (String name : a.keySet()) {
            if (name.endsWith("_results.json") && !name.startsWith("submissions")) {
                ObjectNode ra = (ObjectNode) JSON.readTree(a.get(name).toFile()), rb = (ObjectNode) JSON.readTree(b.get(name).toFile());
                ra.remove(TIMINGS);
                rb.remove(TIMINGS);
                assertThat((JsonNode) rb).as(name).isEqualTo(ra);
            } else {
                assertThat(Files.readString(b.get(name))).as(name).isEqualTo(Files.readString(a.get(name)));
            }
        }
    }

    /** Files by path relative to the root, with a leading yyyyMMdd_HHmmss_ date id cut from the name. */
    private static Map<String, Path> files(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).collect(Collectors.toMap(
                    p -> root.relativize(p).toString().replaceAll("\\d{8}_\\d{6}", ""), p -> p, (x, y) -> x, TreeMap::new));
        }
    }

    /** The results table of a run's stdout (without the line naming the results file). */
    static String tableOf(String stdout) {
        return stdout.lines().filter(l -> l.startsWith("|")).collect(Collectors.joining("\n"));
    }
}
