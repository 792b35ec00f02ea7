package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.eval.cli.EvalCommand;
import io.instella.eval.data.ParquetFixtures;
import io.instella.eval.score.Scorer;
import io.instella.eval.tasks.AggregationContext;
import io.instella.eval.tasks.Tasks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;

import static io.instella.eval.JsonAssert.assertJsonEquals;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The runner end to end on generated parquet datasets, with a rule-based test double in place of the model. */
class EvalRunnerTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2025-03-01T00:00:00Z"), ZoneOffset.UTC);

    @TempDir
    static Path data;

    @TempDir
    Path out;

    @BeforeAll
    static void writeFixtures() {
        ParquetFixtures.writeAll(data);
    }

    private EvalRunner runner(Path output, List<String> tasks, Integer limit, StringWriter stdout, StringWriter stderr) {
        EvalRunner.Options options = new EvalRunner.Options("models/instella-vl-1b", tasks, limit, output, data, 1, "pope_f1_score");
        return new EvalRunner(options, new PrintWriter(stdout), new PrintWriter(stderr), CLOCK, false);
    }

    @Test
    void allFourteenTasksWithLimitFiveThroughTheCli() throws IOException {
        RuleBasedAnswerer model = new RuleBasedAnswerer();
        StringWriter stdout = new StringWriter();
        StringWriter stderr = new StringWriter();
        CommandLine cl = new CommandLine(new EvalCommand(m -> model));
        cl.setOut(new PrintWriter(stdout));
        cl.setErr(new PrintWriter(stderr));
        int code = cl.execute("--model", "models/instella-vl-1b", "--tasks", String.join(",", Tasks.names()), "--limit", "5",
                "--output", out.toString(), "--data", data.toString());
        assertThat(code).as(stderr.toString()).isZero();
        assertThat(model.calls).hasSize(14 * 5);

        Path modelDir = out.resolve("models__instella-vl-1b");
        JsonNode results = MAPPER.readTree(single(modelDir, "_results.json").toFile());
        assertThat(fieldNames(results)).startsWith("results", "group_subtasks", "configs", "versions", "n-shot",
                "higher_is_better", "n-samples", "config", "git_hash", "date", "task_hashes", "model_source");
        assertThat(fieldNames(results.get("results"))).containsExactlyElementsOf(new java.util.TreeSet<>(Tasks.names()));
        for (String task : Tasks.names()) {
            assertThat(results.get("n-samples").get(task).get("effective").intValue()).isEqualTo(5);
            assertThat(results.get("n-samples").get(task).get("original").intValue()).isEqualTo(ParquetFixtures.ROWS);
            JsonNode entry = results.get("results").get(task);
            assertThat(entry.get("alias").textValue()).isEqualTo(task);
            List<String> keys = fieldNames(entry);
            assertThat(keys.get(2)).isEqualTo("samples");

            List<String> lines = Files.readAllLines(single(modelDir, "_samples_" + task + ".jsonl"), StandardCharsets.UTF_8);
            assertThat(lines).as(task).hasSize(5);
            List<Scorer.Input> inputs = new ArrayList<>();
            for (int i = 0; i < lines.size(); i++) {
                JsonNode s = MAPPER.readTree(lines.get(i));
                List<String> sk = fieldNames(s);
                assertThat(sk.subList(0, 9)).containsExactly("doc_id", "doc", "target", "arguments", "resps", "filtered_resps",
                        "doc_hash", "prompt_hash", "target_hash");
                assertThat(sk.get(sk.size() - 1)).isEqualTo("input");
                assertThat(s.get("doc_id").intValue()).isEqualTo(i);
                assertThat(s.get("doc_hash").textValue()).isEqualTo("74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b");
                s.get("doc").fieldNames().forEachRemaining(k -> assertThat(k).doesNotContain("image"));
                assertThat(s.get("arguments").toString()).doesNotContain("until").contains("max_new_tokens");
                inputs.add(new Scorer.Input((com.fasterxml.jackson.databind.node.ObjectNode) s.get("doc"), s.get("resps").get(0).get(0).textValue()));
            }
            if (!task.equals("textvqa_val")) { // textvqa logs normalised answers, so re-scoring them is not the same input
                Scorer.Result again = Scorer.score(Tasks.byName(task), inputs, 1, AggregationContext.noFiles());
                JsonNode expected = again.aggregate();
                expected.properties().forEach(e -> assertJsonEquals(e.getValue(), entry.get(e.getKey()), task + " " + e.getKey()));
            }
        }
        // Images reached the model as the tasks define them.
        assertThat(model.calls.stream().filter(c -> c.context().startsWith("Compare <image 2>")).findFirst().orElseThrow().images()).isEqualTo(2);
        assertThat(model.calls.stream().filter(c -> c.context().contains("farthest north 2?")).findFirst().orElseThrow().images()).isZero();
        assertThat(model.calls.stream().filter(c -> c.settings().imageAspectRatio() != null).count()).isEqualTo(5); // seedbench
        assertThat(model.calls.get(0).settings().maxNewTokens()).isEqualTo(16); // gqa
        String table = stdout.toString();
        assertThat(table).contains("| Model").contains("GQA").contains("InfoVQA").contains("Average").contains("models/instella-vl-1b");
        assertThat(table.lines().filter(l -> l.startsWith("| models")).findFirst().orElseThrow()).doesNotContain("--");
        assertThat(out.resolve("results").resolve("ocrbench_results.txt")).exists();
        assertThat(out.resolve("submissions").resolve("mmbench_en_dev_results.json")).exists();
    }

    @Test
    void killAndResumeGivesTheSameFilesAsAnUninterruptedRun() throws IOException {
        List<String> tasks = List.of("pope", "realworldqa", "mmbench_en_dev");
        Path straight = out.resolve("straight");
        runner(straight, tasks, null, new StringWriter(), new StringWriter()).run(new RuleBasedAnswerer());

        Path resumed = out.resolve("resumed");
        RuleBasedAnswerer crashing = new RuleBasedAnswerer(8); // dies inside the second task
        assertThatThrownBy(() -> runner(resumed, tasks, null, new StringWriter(), new StringWriter()).run(crashing))
                .isInstanceOf(RuleBasedAnswerer.SimulatedCrash.class);
        Path journal = resumed.resolve("models__instella-vl-1b").resolve("journal").resolve("realworldqa.jsonl");
        assertThat(Files.readAllLines(journal)).hasSize(1 + 2); // header + the 2 documents finished before the crash
        // A crash in the middle of writing a line leaves a torn line; it must be ignored.
        Files.writeString(journal, "{\"doc_id\": 2, \"prompt_ha", java.nio.file.StandardOpenOption.APPEND);

        RuleBasedAnswerer rest = new RuleBasedAnswerer();
        StringWriter err = new StringWriter();
        runner(resumed, tasks, null, new StringWriter(), err).run(rest);
        assertThat(rest.calls).hasSize(3 * ParquetFixtures.ROWS - 8);
        assertThat(err.toString()).contains("[pope] resuming: 6/6").contains("[realworldqa] resuming: 2/6");

        for (String task : tasks) {
            assertThat(Files.readString(single(resumed.resolve("models__instella-vl-1b"), "_samples_" + task + ".jsonl")))
                    .isEqualTo(Files.readString(single(straight.resolve("models__instella-vl-1b"), "_samples_" + task + ".jsonl")));
        }
        JsonNode a = MAPPER.readTree(single(straight.resolve("models__instella-vl-1b"), "_results.json").toFile());
        JsonNode b = MAPPER.readTree(single(resumed.resolve("models__instella-vl-1b"), "_results.json").toFile());
        assertJsonEquals(a.get("results"), b.get("results"), "results");
        assertJsonEquals(a.get("task_hashes"), b.get("task_hashes"), "task_hashes");
    }

    @Test
    void documentsGeneratedInBatchesGiveTheSameFilesAsOneAtATime() throws IOException {
        List<String> tasks = List.of("gqa", "pope", "mmmu_val", "docvqa_val");
        Path single = out.resolve("single"), batched = out.resolve("batched");
        String table1 = runner(single, tasks, 5, new StringWriter(), new StringWriter()).run(new RuleBasedAnswerer()).table();
        // What a worker elsewhere does: reads its documents' inputs itself, in ascending order, and answers them.
        RuleBasedAnswerer worker = new RuleBasedAnswerer();
        List<List<Integer>> calls = new ArrayList<>();
        String table2 = runner(batched, tasks, 5, new StringWriter(), new StringWriter()).run((task, ids) -> {
            calls.add(ids);
            try (TaskInputs inputs = TaskInputs.open(TaskInputs.task(task, "pope_f1_score"), data)) {
                return ids.stream().map(id -> worker.generate(inputs.prompt(id), inputs.visuals(id), inputs.settings())).toList();
            }
        }, 2).table();
        assertThat(calls).hasSize(4 * 3).startsWith(List.of(0, 1), List.of(2, 3), List.of(4));
        Path a = single.resolve("models__instella-vl-1b"), b = batched.resolve("models__instella-vl-1b");
        for (String task : tasks) {
            assertThat(Files.readString(single(b, "_samples_" + task + ".jsonl"))).isEqualTo(Files.readString(single(a, "_samples_" + task + ".jsonl")));
            assertThat(Files.readString(b.resolve("journal").resolve(task + ".jsonl"))).isEqualTo(Files.readString(a.resolve("journal").resolve(task + ".jsonl")));
        }
        JsonNode ra = MAPPER.readTree(single(a, "_results.json").toFile()), rb = MAPPER.readTree(single(b, "_results.json").toFile());
        for (String timing : List.of("start_time", "end_time", "total_evaluation_time_seconds")) {
            ((com.fasterxml.jackson.databind.node.ObjectNode) ra).remove(timing);
            ((com.fasterxml.jackson.databind.node.ObjectNode) rb).remove(timing);
        }
        assertThat(rb).isEqualTo(ra);
        assertThat(table2).isEqualTo(table1).contains("| models/instella-vl-1b |");
    }

    @Test
    void aJournalOfAnotherModelIsNotReused() {
        List<String> tasks = List.of("pope");
        runner(out, tasks, 2, new StringWriter(), new StringWriter()).run(new RuleBasedAnswerer());
        EvalRunner.Options other = new EvalRunner.Options("elsewhere/models/instella-vl-1b", tasks, 2, out, data, 1, "pope_f1_score");
        // Same sanitized directory name, different model: refuse rather than mix responses.
        assertThatThrownBy(() -> new EvalRunner(other, new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()), CLOCK, false)
                .run(new RuleBasedAnswerer())).isInstanceOf(IllegalStateException.class).hasMessageContaining("another run");
    }

    @Test
    void limitAndOrderAreDeterministic() throws IOException {
        RuleBasedAnswerer m1 = new RuleBasedAnswerer();
        RuleBasedAnswerer m2 = new RuleBasedAnswerer();
        runner(out.resolve("a"), List.of("ai2d", "chartqa"), 3, new StringWriter(), new StringWriter()).run(m1);
        runner(out.resolve("b"), List.of("ai2d", "chartqa"), 3, new StringWriter(), new StringWriter()).run(m2);
        assertThat(m1.calls).hasSize(6).isEqualTo(m2.calls.stream().toList());
        assertThat(m1.calls.get(0).context()).startsWith("Which phase of the moon is shown at E?");
        assertThat(m1.calls.get(3).context()).startsWith("What is the value of bar 0?");
    }

    @Test
    void cliWithoutModelBackendOrWithBadOptionsFailsClearly() {
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new EvalCommand());
        cl.setErr(new PrintWriter(err));
        cl.setOut(new PrintWriter(new StringWriter()));
        assertThat(cl.execute("--model", "m", "--tasks", "gqa")).isEqualTo(1);
        assertThat(err.toString()).contains("no model backend");
        err.getBuffer().setLength(0);
        assertThat(cl.execute("--model", "m", "--tasks", "gqa,nope")).isEqualTo(2);
        assertThat(err.toString()).contains("unknown task 'nope'");
        CommandLine withModel = new CommandLine(new EvalCommand(m -> new RuleBasedAnswerer()));
        StringWriter err2 = new StringWriter();
        withModel.setErr(new PrintWriter(err2));
        withModel.setOut(new PrintWriter(new StringWriter()));
        assertThat(withModel.execute("--model", "m", "--tasks", "gqa", "--data", out.resolve("empty").toString(),
                "--output", out.toString())).isEqualTo(1);
        assertThat(err2.toString()).contains("lmms-lab/GQA").contains("not found");
    }

    @Test
    void sanitizedModelNames() {
        assertThat(EvalRunner.sanitizeModelName("path/to/sft-checkpoint-folder")).isEqualTo("to__sft-checkpoint-folder");
        assertThat(EvalRunner.sanitizeModelName("amd/Instella-VL-1B")).isEqualTo("amd__Instella-VL-1B");
        assertThat(EvalRunner.sanitizeModelName("model")).isEqualTo("model");
    }

    private static Path single(Path dir, String suffix) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> found = files.filter(p -> p.getFileName().toString().endsWith(suffix)).toList();
            assertThat(found).as(suffix).hasSize(1);
            return found.get(0);
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) names.add(it.next());
        return names;
    }

}
