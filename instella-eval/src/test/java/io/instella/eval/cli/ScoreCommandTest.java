package io.instella.eval.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.golden.GoldenEval;
import io.instella.eval.score.Scorer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.instella.eval.JsonAssert.assertJsonEquals;
import static org.assertj.core.api.Assertions.assertThat;

/** {@code instella eval score} end to end (in process) against the golden vectors, and its error contract. */
class ScoreCommandTest {
    @TempDir
    Path tmp;

    record Run(int exitCode, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new EvalCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private Path writePredictions(String name, List<Scorer.Input> inputs) throws IOException {
        Path file = tmp.resolve(name + ".jsonl");
        StringBuilder sb = new StringBuilder();
        for (Scorer.Input in : inputs) {
            ObjectNode line = JsonNodeFactory.instance.objectNode();
            line.put("id", "ignored-extra-key");
            line.set("doc", in.doc());
            line.put("prediction", in.prediction());
            sb.append(GoldenEval.MAPPER.writeValueAsString(line)).append('\n');
        }
        Files.writeString(file, sb.toString(), StandardCharsets.UTF_8);
        return file;
    }

    @TestFactory
    List<DynamicTest> goldenVectorsThroughTheCli() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String task : GoldenEval.tasks()) {
            JsonNode agg = GoldenEval.aggregate(task);
            Map<String, JsonNode> cases = GoldenEval.byId(GoldenEval.cases(task));
            for (JsonNode vector : agg.get("vectors")) {
                String name = vector.get("name").textValue();
                tests.add(DynamicTest.dynamicTest(task + "/" + name, () -> {
                    List<Scorer.Input> inputs = GoldenEval.vectorInputs(vector, cases);
                    Path file = writePredictions(task + "-" + name, inputs);
                    Run r = run("score", "--task", task, "--predictions", file.toString(), "--json",
                            "--emulate-world-size", String.valueOf(vector.get("world_size").intValue()));
                    assertThat(r.exitCode()).as(r.err()).isZero();
                    List<String> lines = r.out().lines().toList();
                    assertThat(lines).hasSize(inputs.size() + 1);
                    if (vector.has("case_ids")) {
                        int i = 0;
                        for (JsonNode id : vector.get("case_ids")) {
                            for (JsonNode row : GoldenEval.rows(cases.get(id.textValue()))) {
                                JsonNode line = GoldenEval.MAPPER.readTree(lines.get(i++));
                                assertThat(line.get("prompt").textValue()).isEqualTo(row.get("prompt").textValue());
                                assertJsonEquals(row.get("result"), line.get("result"), id.textValue() + " result");
                                assertThat(line.size()).isEqualTo(2);
                            }
                        }
                    }
                    JsonNode last = GoldenEval.MAPPER.readTree(lines.get(lines.size() - 1));
                    assertThat(last.size()).isEqualTo(1);
                    assertJsonEquals(vector.get("results"), last.get("aggregate"), task + "/" + name + " aggregate");
                }));
            }
        }
        return tests;
    }

    @Test
    void malformedJsonNamesTheLine() throws IOException {
        Path f = tmp.resolve("bad.jsonl");
        Files.writeString(f, "{\"doc\": {\"question\": \"q\", \"answer\": \"a\"}, \"prediction\": \"a\"}\n\n{\"doc\": {\"question\": \n");
        Run r = run("score", "--task", "gqa", "--predictions", f.toString(), "--json");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("line 3").contains("not valid JSON");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void unknownTaskIsRejected() throws IOException {
        Path f = tmp.resolve("p.jsonl");
        Files.writeString(f, "{\"doc\": {}, \"prediction\": \"a\"}\n");
        Run r = run("score", "--task", "vqav2", "--predictions", f.toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("unknown task 'vqav2'").contains("gqa");
    }

    @Test
    void missingDocFieldNamesLineAndField() throws IOException {
        Path f = tmp.resolve("p.jsonl");
        Files.writeString(f, "{\"doc\": {\"question\": \"q\", \"answer\": \"yes\", \"question_id\": \"1\"}, \"prediction\": \"yes\"}\n"
                + "{\"doc\": {\"answer\": \"no\", \"question_id\": \"2\"}, \"prediction\": \"no\"}\n");
        Run r = run("score", "--task", "pope", "--predictions", f.toString(), "--json");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("line 2").contains("'question'");
    }

    @Test
    void missingPredictionOrDocIsRejected() throws IOException {
        Path f = tmp.resolve("p.jsonl");
        Files.writeString(f, "{\"doc\": {\"question\": \"q\", \"answer\": \"a\"}}\n");
        Run r = run("score", "--task", "gqa", "--predictions", f.toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("line 1").contains("'prediction'");
        Files.writeString(f, "{\"prediction\": \"a\"}\n");
        r = run("score", "--task", "gqa", "--predictions", f.toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("line 1").contains("'doc'");
    }

    @Test
    void badValueInDocIsAnInputError() throws IOException {
        Path f = tmp.resolve("p.jsonl");
        Files.writeString(f, "{\"doc\": {\"question\": \"q\", \"answer\": \"maybe\", \"question_id\": \"1\"}, \"prediction\": \"yes\"}\n");
        Run r = run("score", "--task", "pope", "--predictions", f.toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("line 1").contains("yes' or 'no'");
    }

    @Test
    void missingFileAndMissingOptionsExitWithUsageCode() {
        Run r = run("score", "--task", "gqa", "--predictions", tmp.resolve("nope.jsonl").toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("file not found");
        r = run("score", "--task", "gqa");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("--predictions");
    }

    @Test
    void humanSummaryShowsTableValue() throws IOException {
        Path f = tmp.resolve("p.jsonl");
        Files.writeString(f, "{\"doc\": {\"question\": \"Is it red?\", \"answer\": \"yes\"}, \"prediction\": \"Yes.\"}\n"
                + "{\"doc\": {\"question\": \"Is it blue?\", \"answer\": \"no\"}, \"prediction\": \"yes\"}\n");
        Run r = run("score", "--task", "gqa", "--predictions", f.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).contains("exact_match,none = 0.5").contains("table GQA: 50.00");
    }
}
