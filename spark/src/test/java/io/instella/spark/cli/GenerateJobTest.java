package io.instella.spark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.spark.TinyModel;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The launcher's contract, run in-process on {@code local[2]}:
 * {@code generate --master local[2] --model DIR --input ROWS.jsonl --output OUTDIR [--max-new-tokens N]} writes
 * JSON-lines part files with one object per input row, {@code id} and {@code answer} (the CLI's greedy answer) or
 * {@code id} and {@code error}.
 */
class GenerateJobTest {
    static SparkSession spark;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("GenerateJobTest")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    record Result(int exit, String err) {
    }

    static Result run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = SparkMain.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Result(exit, err.toString());
    }

    /** Rows of the contract's shape; {@code missing} has an image that does not exist. */
    static Path writeRows(Path dir, int count) throws IOException {
        Path images = TinyModel.images();
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Map<String, Object> row = new HashMap<>();
            row.put("id", "q" + i);
            row.put("prompt", "Question " + i + ": what do you see?");
            if (i % 10 == 3) row.put("image", images.resolve("b.png").toString());
            lines.add(JSON.writeValueAsString(row));
        }
        lines.add(JSON.writeValueAsString(Map.of("id", "missing", "prompt", "What is it?", "image", dir.resolve("gone.jpg").toString())));
        Path file = dir.resolve("rows.jsonl");
        Files.write(file, lines);
        return file;
    }

    static Map<String, JsonNode> readJsonParts(Path out) throws IOException {
        Map<String, JsonNode> rows = new HashMap<>();
        List<Path> parts;
        try (Stream<Path> s = Files.list(out)) {
            parts = s.filter(p -> p.getFileName().toString().startsWith("part-")).toList();
        }
        assertThat(parts).isNotEmpty().allMatch(p -> p.toString().endsWith(".json") || p.toString().endsWith(".jsonl"));
        for (Path p : parts) {
            for (String line : Files.readAllLines(p)) {
                if (line.isBlank()) continue;
                JsonNode o = JSON.readTree(line);
                assertThat(rows.put(o.get("id").asText(), o)).as("row %s once", o.get("id")).isNull();
            }
        }
        return rows;
    }

    static void assertContractAnswers(Map<String, JsonNode> rows, int count, Path dir) {
        Path images = TinyModel.images();
        assertThat(rows).hasSize(count + 1);
        for (int i = 0; i < count; i++) {
            JsonNode o = rows.get("q" + i);
            Path image = i % 10 == 3 ? images.resolve("b.png") : null;
            assertThat(o.has("error")).as("q%d has no error", i).isFalse();
            assertThat(o.get("answer").asText()).as("q%d", i)
                    .isEqualTo(TinyModel.cliAnswer("Question " + i + ": what do you see?", image, 5));
        }
        JsonNode missing = rows.get("missing");
        assertThat(missing.has("answer")).isFalse();
        assertThat(missing.get("error").asText()).isEqualTo("image file not found: " + dir.resolve("gone.jpg"));
    }

    @Test
    void theLaunchersContractWritesOneJsonObjectPerInputRow(@TempDir Path dir) throws Exception {
        Path input = writeRows(dir, 30);
        Path out = dir.resolve("out");

        Result r = run("generate", "--master", "local[2]", "--model", TinyModel.dir().toString(), "--input", input.toString(),
                "--output", out.toString(), "--max-new-tokens", "5");

        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("31 rows (30 answered, 1 errors)");
        assertContractAnswers(readJsonParts(out), 30, dir);
    }

    @Test
    void anExistingOutputIsKeptUnlessOverwriteIsGiven(@TempDir Path dir) throws Exception {
        Path input = writeRows(dir, 3);
        Path out = Files.createDirectories(dir.resolve("out"));
        Path precious = Files.writeString(out.resolve("precious.txt"), "user data");
        String[] args = {"generate", "--master", "local[2]", "--model", TinyModel.dir().toString(), "--input", input.toString(),
                "--output", out.toString(), "--max-new-tokens", "5"};

        Result refused = run(args);
        assertThat(refused.exit()).isEqualTo(1);
        assertThat(refused.err()).contains("instella-spark: error: the output " + out + " already exists and is not empty")
                .contains("--overwrite").doesNotContain("Exception");
        assertThat(precious).hasContent("user data");

        List<String> withOverwrite = new ArrayList<>(List.of(args));
        withOverwrite.add("--overwrite");
        assertThat(run(withOverwrite.toArray(String[]::new)).exit()).isZero();
        assertThat(precious).doesNotExist();
        assertContractAnswers(readJsonParts(out), 3, dir);
    }

    @Test
    void parquetInAndOutAreChosenByExtension(@TempDir Path dir) throws Exception {
        Path jsonl = writeRows(dir, 12);
        String parquetIn = dir.resolve("rows.parquet").toString();
        spark.read().json(jsonl.toString()).write().parquet(parquetIn);
        Path out = dir.resolve("answers.parquet");

        Result r = run("generate", "--model", TinyModel.dir().toString(), "--input", parquetIn, "--output", out.toString(),
                "--max-new-tokens", "5");

        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("as Parquet");
        Map<String, JsonNode> rows = new HashMap<>();
        for (Row row : spark.read().parquet(out.toString()).collectAsList()) {
            Map<String, Object> m = new HashMap<>();
            for (String f : row.schema().fieldNames()) if (row.getAs(f) != null) m.put(f, row.getAs(f));
            rows.put((String) row.getAs("id"), JSON.valueToTree(m));
        }
        assertContractAnswers(rows, 12, dir);
    }

    @Test
    void unreadableLinesAndBadUsageAreReportedClearly(@TempDir Path dir) throws Exception {
        Path input = dir.resolve("rows.jsonl");
        Files.writeString(input, "{\"id\": \"a\", \"prompt\": \"Question 1: what do you see?\"}\n{not json\n");
        Path out = dir.resolve("out");
        Result r = run("generate", "--model", TinyModel.dir().toString(), "--input", input.toString(), "--output", out.toString(),
                "--max-new-tokens", "5");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("2 rows (1 answered, 1 errors)").contains("not a JSON object: {not json");

        Result noInput = run("generate", "--model", TinyModel.dir().toString(), "--input", dir.resolve("nope.jsonl").toString(),
                "--output", dir.resolve("o2").toString());
        assertThat(noInput.exit()).isEqualTo(1);
        assertThat(noInput.err()).contains("input not found: " + dir.resolve("nope.jsonl"));

        Result noModel = run("generate", "--input", input.toString(), "--output", dir.resolve("o3").toString());
        assertThat(noModel.exit()).isEqualTo(2);
        assertThat(noModel.err()).contains("Missing required option: '--model");
    }
}
