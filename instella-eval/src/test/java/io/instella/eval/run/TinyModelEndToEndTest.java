package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.eval.cli.EvalCommand;
import io.instella.eval.data.ParquetFixtures;
import io.instella.eval.tasks.Tasks;
import io.instella.model.random.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** All 14 tasks, --limit 5, on generated parquet fixtures with a tiny random model of the real structure. */
class TinyModelEndToEndTest {
    @TempDir
    Path tmp;

    @Test
    void allTasksWithARealTinyModel() throws IOException {
        Path data = tmp.resolve("data"), model = tmp.resolve("model"), out = tmp.resolve("out");
        ParquetFixtures.writeAll(data);
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, model, Golden.resolve("model/tokenizer.json"), 11, DType.BF16);
        StringWriter stdout = new StringWriter(), stderr = new StringWriter();
        CommandLine cl = new CommandLine(new EvalCommand(m -> InstellaEvalModel.open(Path.of(m))));
        cl.setOut(new PrintWriter(stdout));
        cl.setErr(new PrintWriter(stderr));
        int code = cl.execute("--model", model.toString(), "--tasks", String.join(",", Tasks.names()), "--limit", "5",
                "--output", out.toString(), "--data", data.toString());
        assertThat(code).as(stderr.toString()).isZero();
        Path results;
        try (Stream<Path> s = Files.walk(out)) {
            results = s.filter(p -> p.getFileName().toString().endsWith("_results.json") && !p.getParent().getFileName().toString().equals("submissions"))
                    .findFirst().orElseThrow();
        }
        JsonNode r = new ObjectMapper().readTree(results.toFile());
        for (String task : Tasks.names()) {
            assertThat(r.get("n-samples").get(task).get("effective").intValue()).as(task).isEqualTo(5);
            try (Stream<Path> s = Files.list(results.getParent())) {
                Path samples = s.filter(p -> p.getFileName().toString().endsWith("_samples_" + task + ".jsonl")).findFirst().orElseThrow();
                assertThat(Files.readAllLines(samples)).as(task).hasSize(5);
            }
        }
        assertThat(stdout.toString()).contains("| Model").contains("Average");
    }
}
