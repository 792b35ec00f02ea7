package io.instella.eval.golden;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.MmbenchEvaluator;
import io.instella.eval.score.Scorer;
import io.instella.eval.tasks.AggregationContext;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.MmmuValTask;
import io.instella.eval.tasks.Tasks;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static io.instella.eval.JsonAssert.assertJsonEquals;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every per-sample value and every aggregate of shared/golden/eval, produced by upstream lmms-eval at the pinned
 * commit, must come out of the Java scorer identically (floats within 1e-9, Python int/float types kept).
 */
class GoldenScoringTest {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    @Test
    void everyTableTaskHasGoldenVectors() {
        assertThat(GoldenEval.tasks()).containsExactlyInAnyOrderElementsOf(Tasks.names());
    }

    @TestFactory
    List<DynamicTest> perSampleResults() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String taskName : GoldenEval.tasks()) {
            tests.add(DynamicTest.dynamicTest(taskName, () -> checkCases(taskName)));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> aggregateVectors() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String taskName : GoldenEval.tasks()) {
            JsonNode agg = GoldenEval.aggregate(taskName);
            for (JsonNode vector : agg.get("vectors")) {
                tests.add(DynamicTest.dynamicTest(taskName + "/" + vector.get("name").textValue(),
                        () -> checkVector(taskName, agg, vector)));
            }
        }
        return tests;
    }

    private static void checkCases(String taskName) {
        EvalTask task = Tasks.byName(taskName);
        List<JsonNode> cases = GoldenEval.cases(taskName);
        List<Scorer.Input> inputs = new ArrayList<>();
        List<JsonNode> rows = new ArrayList<>();
        for (JsonNode c : cases) {
            for (JsonNode row : GoldenEval.rows(c)) {
                rows.add(row);
                inputs.add(new Scorer.Input((ObjectNode) row.get("doc"), row.get("prediction").textValue()));
            }
        }
        Scorer.Result result = Scorer.score(task, inputs, 1, AggregationContext.noFiles());
        int i = 0;
        for (JsonNode row : rows) {
            Scorer.Sample s = result.samples().get(i++);
            String id = caseId(cases, row);
            assertThat(s.prompt()).as(id + " prompt").isEqualTo(row.get("prompt").textValue());
            assertJsonEquals(row.get("target"), s.target(), id + " target");
            if (row.has("filtered")) assertThat(s.filtered()).as(id + " filtered").isEqualTo(row.get("filtered").textValue());
            assertJsonEquals(row.get("result"), s.result(), id + " result");
            if (row.has("normalized_answers")) assertJsonEquals(row.get("normalized_answers"), s.doc().get("answers"), id + " answers");
            if (taskName.equals("seedbench")) {
                boolean correct = ((io.instella.eval.tasks.Metric) task.metrics().get(2)).aggregation()
                        .aggregate(List.of(s.result().get("seed_all")), AggregationContext.noFiles()).doubleValue() == 1.0;
                assertThat(correct).as(id + " correct").isEqualTo(row.get("correct").booleanValue());
            }
            if (taskName.equals("mmmu_val")) {
                assertThat(MmmuValTask.isCorrect(s.result().get("mmmu_acc"))).as(id + " correct").isEqualTo(row.get("correct").booleanValue());
                boolean fellBack = s.notes().stream().anyMatch(n -> n.contains("random letter"));
                assertThat(fellBack).as(id + " random fallback").isEqualTo(row.get("random_fallback").booleanValue());
            }
            if (row.has("can_infer")) {
                String letter = MmbenchEvaluator.prefetchAnswer(s.result().get("gpt_eval_score"));
                JsonNode expected = row.get("can_infer");
                assertThat(letter).as(id + " can_infer").isEqualTo(expected.isBoolean() ? null : expected.textValue());
            }
        }
        if (taskName.equals("mmbench_en_dev")) checkMmbenchGroups(cases, result);
    }

    private static String caseId(List<JsonNode> cases, JsonNode row) {
        for (JsonNode c : cases) {
            if (c == row) return c.get("id").textValue();
            for (JsonNode r : GoldenEval.rows(c)) if (r == row) return c.get("id").textValue() + " row " + r.get("doc").get("index");
        }
        return "?";
    }

    /** CircularEval hits and no-API extractor calls, per group alone and inside the whole set. */
    private static void checkMmbenchGroups(List<JsonNode> cases, Scorer.Result result) {
        List<JsonNode> all = new ArrayList<>();
        for (Scorer.Sample s : result.samples()) all.add(s.result().get("gpt_eval_score"));
        MmbenchEvaluator.Result inSet = MmbenchEvaluator.evalResult(all);
        List<MmbenchEvaluator.ExtractorCall> setCalls = inSet.extractorCalls();
        for (JsonNode c : cases) {
            String id = c.get("id").textValue();
            List<JsonNode> records = new ArrayList<>();
            long main = -1;
            for (JsonNode row : GoldenEval.rows(c)) {
                records.add(row.get("result").get("gpt_eval_score"));
                long idx = row.get("doc").get("index").longValue();
                if (idx < MmbenchEvaluator.CIRCULAR_OFFSET) main = idx;
            }
            MmbenchEvaluator.Result alone = MmbenchEvaluator.evalResult(records);
            assertThat(alone.hits().get(main)).as(id + " hit_alone").isEqualTo(c.get("hit_alone").intValue());
            assertJsonEquals(c.get("extractor_calls_alone"), calls(alone.extractorCalls(), null), id + " extractor_calls_alone");
            assertThat(inSet.hits().get(main)).as(id + " hit_in_set").isEqualTo(c.get("hit_in_set").intValue());
            List<Long> groupIndices = new ArrayList<>();
            for (JsonNode row : GoldenEval.rows(c)) groupIndices.add(row.get("doc").get("index").longValue());
            assertJsonEquals(c.get("extractor_calls_in_set"), calls(setCalls, groupIndices), id + " extractor_calls_in_set");
        }
    }

    private static ArrayNode calls(List<MmbenchEvaluator.ExtractorCall> calls, List<Long> onlyIndices) {
        ArrayNode out = JSON.arrayNode();
        for (MmbenchEvaluator.ExtractorCall call : calls) {
            if (onlyIndices != null && !onlyIndices.contains(call.index())) continue;
            out.addObject().put("index", call.index()).put("answer", call.answer()).put("message", call.message());
        }
        return out;
    }

    private static void checkVector(String taskName, JsonNode agg, JsonNode vector) {
        EvalTask task = Tasks.byName(taskName);
        assertJsonEquals(agg.get("generation_kwargs"), task.generationKwargs(), taskName + " generation_kwargs");
        List<Scorer.Input> inputs = GoldenEval.vectorInputs(vector, GoldenEval.byId(GoldenEval.cases(taskName)));
        int worldSize = vector.get("world_size").intValue();
        Scorer.Result result = Scorer.score(task, inputs, worldSize, AggregationContext.noFiles());
        String where = taskName + "/" + vector.get("name").textValue();

        // The lists each aggregation received: per key, the per-sample values in log (rank-major) order.
        Map<String, ArrayNode> items = new LinkedHashMap<>();
        for (Scorer.Sample s : result.logOrder()) {
            s.result().properties().forEach(e ->
                    items.computeIfAbsent(e.getKey() + "," + task.filterName(), k -> JSON.arrayNode()).add(e.getValue()));
        }
        vector.get("items").properties().forEach(e ->
                assertJsonEquals(e.getValue(), items.get(e.getKey()), where + " items " + e.getKey()));

        assertJsonEquals(vector.get("results"), result.aggregate(), where + " results");

        if (vector.has("order")) {
            ArrayNode order = JSON.arrayNode();
            for (Scorer.Sample s : result.logOrder()) {
                order.addObject().put("rank", s.rank()).put("doc_id", s.docId()).put("filtered", s.filtered());
            }
            assertJsonEquals(vector.get("order"), order, where + " order");
        }
        EvalTask.TableEntry entry = task.tableEntry();
        double scale = agg.get("table_scale").doubleValue();
        vector.get("table_value").properties().forEach(e -> {
            JsonNode v = result.aggregate().get(e.getKey());
            assertThat(String.format(Locale.ROOT, "%.2f", v.doubleValue() * scale)).as(where + " table " + e.getKey())
                    .isEqualTo(e.getValue().textValue());
        });
        assertThat(agg.get("reported_metric").toString()).contains(entry.metricKey());
    }
}
