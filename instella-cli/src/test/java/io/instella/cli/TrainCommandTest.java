package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.server.InstellaServer;
import io.instella.server.ServerOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code instella train} end to end, in-process: a short overfit run whose final model {@code instella run} and the
 * server load and answer from; bad records skipped with one line each (or fatal under --strict-data); the errors a
 * user meets; the help of the contract's flags. (Signals and a small heap: {@link TrainInterruptTest}.)
 */
class TrainCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String MEMORISED = "A square picture with coloured shapes and the word SQUARE.";

    @TempDir
    Path tmp;

    static String model() { return Golden.resolve("model").toString(); }

    /** Training on the golden record a1 (sq336 + "Describe this image.") makes the model answer with its text. */
    @Test
    void aTrainedCheckpointIsLoadedByRunAndServe() throws Exception {
        JsonNode records = JSON.readTree(Golden.resolve("train/examples.json").toFile());
        Path data = tmp.resolve("one.json");
        JSON.writeValue(data.toFile(), JSON.createArrayNode().add(records.get(0)));
        Path out = tmp.resolve("out");
        CliRunner t = CliRunner.run("train", "--model", model(), "--data", data.toString(),
                "--image-folder", Golden.resolve("images").toString(), "--mm-tunable-parts", "mm_mlp_adapter,mm_language_model",
                "--image-aspect-ratio", "square", "--mm-patch-merge-type", "flat", "--learning-rate", "3e-3",
                "--lr-scheduler-type", "constant", "--max-steps", "8", "--per-device-train-batch-size", "1",
                "--save-steps", "4", "--output-dir", out.toString(), "--json");
        assertThat(t.exitCode()).as(t.err()).isZero();
        List<JsonNode> steps = jsonLines(t.out());
        assertThat(steps).hasSize(8);
        for (int i = 0; i < steps.size(); i++) {
            assertThat(steps.get(i).get("step").asInt()).isEqualTo(i + 1);
            assertThat(steps.get(i).get("learning_rate").asDouble()).isEqualTo(3e-3);
            assertThat(steps.get(i).get("grad_norm").asDouble()).isPositive();
        }
        assertThat(steps.getLast().get("loss").asDouble()).isLessThan(steps.getFirst().get("loss").asDouble() / 4);
        assertThat(t.err()).contains("train: memory estimate:", "train: step 8/8", "wrote the trained model to " + out);
        assertThat(out.resolve("checkpoint-4/trainer_state.json")).isRegularFile();
        assertThat(out.resolve("config.json")).isRegularFile();

        Path image = Golden.resolve("images/sq336.png");
        CliRunner run = CliRunner.run("run", "--model", out.toString(), "--image", image.toString(), "Describe this image.");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out().strip()).isEqualTo(MEMORISED);

        ObjectNode req = JSON.createObjectNode();
        ArrayNode parts = req.putArray("messages").addObject().put("role", "user").putArray("content");
        parts.addObject().put("type", "image_url").putObject("image_url")
                .put("url", "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(image)));
        parts.addObject().put("type", "text").put("text", "Describe this image.");
        req.put("max_tokens", 40).put("temperature", 0);
        try (InstellaVL trained = InstellaVL.load(out);
             InstellaServer server = InstellaServer.start(trained, ServerOptions.builder().port(0).build())) {
            HttpResponse<String> resp = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions")).timeout(Duration.ofSeconds(60))
                            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(req.toString())).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
            JsonNode answer = JSON.readTree(resp.body());
            assertThat(answer.at("/choices/0/message/content").asText().strip()).isEqualTo(MEMORISED);
            assertThat(answer.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        }
    }

    /** Good text records around one of each kind of bad record (lines 2, 4, 5, 6, 7). */
    private Path badData() throws Exception {
        Path images = Files.createDirectories(tmp.resolve("images"));
        byte[] png = Files.readAllBytes(Golden.resolve("images/sq336.png"));
        Files.write(images.resolve("truncated.png"), java.util.Arrays.copyOf(png, 200));
        List<String> lines = List.of(
                good(1),
                "{\"id\": \"missing\", \"image\": \"nope.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nHi\"}, {\"from\": \"gpt\", \"value\": \"Hello.\"}]}",
                good(2),
                "{\"id\": \"truncated\", \"image\": \"truncated.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nHi\"}, {\"from\": \"gpt\", \"value\": \"Hello.\"}]}",
                "{\"id\": \"broken\", \"conversations\": [",
                "{\"id\": \"empty\", \"conversations\": []}",
                "{\"id\": \"long\", \"conversations\": [{\"from\": \"human\", \"value\": \"" + "word ".repeat(300)
                        + "\"}, {\"from\": \"gpt\", \"value\": \"ok.\"}]}",
                good(3));
        Path data = tmp.resolve("data.jsonl");
        Files.write(data, lines);
        return data;
    }

    private static String good(int i) {
        return "{\"id\": \"good" + i + "\", \"conversations\": [{\"from\": \"human\", \"value\": \"What is " + i
                + " + 1?\"}, {\"from\": \"gpt\", \"value\": \"" + i + " + 1 = " + (i + 1) + ".\"}]}";
    }

    private String[] badDataRun(Path data, Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--model", model(), "--data", data.toString(),
                "--image-folder", tmp.resolve("images").toString(), "--mm-tunable-parts", "mm_mlp_adapter",
                "--image-aspect-ratio", "square", "--mm-patch-merge-type", "flat", "--model-max-length", "128",
                "--output-dir", out.toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @Test
    void badRecordsAreSkippedWithOneLineEachAndCountedInTheCheckpoint() throws Exception {
        Path data = badData();
        Path out = tmp.resolve("out");
        CliRunner r = CliRunner.run(badDataRun(data, out, "--no-shuffle", "--max-steps", "3", "--save-steps", "3"));
        assertThat(r.exitCode()).as(r.err()).isZero();
        List<String> skipped = r.err().lines().filter(l -> l.startsWith("train: skipped ")).toList();
        assertThat(skipped).as(r.err()).hasSize(5);
        Map<Integer, String> reasons = Map.of(2, "'nope.png' not found", 4, "cannot be decoded", 5, "not valid JSON",
                6, "\"conversations\" is empty", 7, "more than --model-max-length 128");
        reasons.forEach((line, reason) -> assertThat(skipped).as("line %d", line)
                .anySatisfy(l -> assertThat(l).startsWith("train: skipped " + data + ":" + line).contains(reason)
                        .matches(".*data\\.jsonl:" + line + "[ :].*")));
        assertThat(r.err()).contains("5 skipped").doesNotContain("Exception", "\tat ", "REDACTED");

        JsonNode state = JSON.readTree(out.resolve("checkpoint-3/trainer_state.json").toFile());
        assertThat(state.get("global_step").asInt()).isEqualTo(3);
        JsonNode counts = state.get("skipped_records");
        assertThat(counts.get("skipped").asInt()).isEqualTo(5);
        assertThat(counts.get("used").asInt()).isEqualTo(3);
        for (String reason : List.of("missing_image", "bad_image", "malformed_json", "empty_conversation", "too_long")) {
            assertThat(counts.at("/skipped_by_reason/" + reason).asInt()).as(reason).isEqualTo(1);
        }
        assertThat(counts.at("/examples/missing_image/0/location").asText()).isEqualTo(data + ":2");
    }

    /** Over several epochs a bad record is met again and again: it is still one line and one count. */
    @Test
    void aBadRecordIsReportedOnceOverManyEpochs() throws Exception {
        Path data = badData();
        Path out = tmp.resolve("epochs");
        CliRunner r = CliRunner.run(badDataRun(data, out, "--num-train-epochs", "3", "--save-steps", "1000", "--json"));
        assertThat(r.exitCode()).as(r.err()).isZero();
        // 3 epochs of the 3 usable records, batch 1: 9 steps, not the 24 that 8 records would have made
        assertThat(jsonLines(r.out())).hasSize(9);
        assertThat(r.err()).contains("the data ended after step 9 of the estimated 24");
        assertThat(r.err().lines().filter(l -> l.startsWith("train: skipped "))).as(r.err()).hasSize(5);
        assertThat(r.err()).contains("5 skipped (1 malformed JSON, 1 empty conversation, 1 missing image file, 1 undecodable image,"
                + " 1 longer than model_max_length)");
    }

    @Test
    void strictDataStopsAtTheFirstBadRecordWithOneLine() throws Exception {
        Path data = badData();
        CliRunner r = CliRunner.run(badDataRun(data, tmp.resolve("strict"), "--no-shuffle", "--max-steps", "3", "--strict-data"));
        assertThat(r.exitCode()).as(r.err()).isEqualTo(1);
        List<String> errors = r.err().lines().filter(l -> l.startsWith("instella: error:")).toList();
        assertThat(errors).as(r.err()).hasSize(1);
        assertThat(errors.getFirst()).contains(data + ":2", "missing", "nope.png", "--strict-data").doesNotContain("internal error");
        assertThat(r.err()).doesNotContain("train: skipped", "\tat ");
    }

    @Test
    void usageErrorsSayWhatIsWrongInOneLine() throws Exception {
        Path data = tmp.resolve("text.jsonl");
        Files.write(data, List.of(good(1)));
        String out = tmp.resolve("out").toString();

        CliRunner noModel = CliRunner.run("train", "--model", tmp.resolve("nowhere").toString(), "--data", data.toString(),
                "--mm-tunable-parts", "mm_mlp_adapter", "--output-dir", out);
        assertThat(noModel.exitCode()).isEqualTo(1);
        assertThat(noModel.err().strip()).isEqualTo("instella: error: " + tmp.resolve("nowhere") + ": no such model directory");

        CliRunner noData = CliRunner.run("train", "--model", model(), "--mm-tunable-parts", "mm_mlp_adapter", "--output-dir", out);
        assertThat(noData.exitCode()).isEqualTo(2);
        assertThat(noData.err()).contains("Missing required option: '--data=FILE'", "Try 'instella train --help'");

        CliRunner gradsNoData = CliRunner.run("train", "grads", "--model", model(), "--examples", "x", "--out", tmp.resolve("g").toString());
        assertThat(gradsNoData.exitCode()).isEqualTo(2);
        assertThat(gradsNoData.err()).contains("Missing required option: '--data=FILE'", "Try 'instella train grads --help'");

        CliRunner badDtype = CliRunner.run("train", "--model", model(), "--data", data.toString(), "--mm-tunable-parts",
                "mm_mlp_adapter", "--output-dir", out, "--save-dtype", "f16");
        assertThat(badDtype.exitCode()).isEqualTo(2);
        assertThat(badDtype.err()).contains("--save-dtype is bf16 or f32, not f16", "Try 'instella train --help'").doesNotContain("\tat ");

        CliRunner noImages = CliRunner.run("train", "--model", model(), "--data", data.toString(), "--image-folder",
                tmp.resolve("no-images").toString(), "--mm-tunable-parts", "mm_mlp_adapter", "--output-dir", out);
        assertThat(noImages.exitCode()).isEqualTo(1);
        assertThat(noImages.err().strip()).isEqualTo("instella: error: --image-folder " + tmp.resolve("no-images") + ": no such folder");

        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        CliRunner outIsFile = CliRunner.run("train", "--model", model(), "--data", data.toString(),
                "--mm-tunable-parts", "mm_mlp_adapter", "--output-dir", file.toString());
        assertThat(outIsFile.exitCode()).isEqualTo(1);
        assertThat(outIsFile.err()).contains("--output-dir " + file + " is a file");

        CliRunner nothingToResume = CliRunner.run("train", "--model", model(), "--data", data.toString(),
                "--mm-tunable-parts", "mm_mlp_adapter", "--output-dir", out, "--resume-from-checkpoint");
        assertThat(nothingToResume.exitCode()).isEqualTo(1);
        assertThat(nothingToResume.err()).contains("no checkpoint to resume from in " + out).doesNotContain("internal error");

        CliRunner nothingToTrain = CliRunner.run("train", "--model", model(), "--data", data.toString(), "--output-dir", out);
        assertThat(nothingToTrain.exitCode()).isEqualTo(1);
        assertThat(nothingToTrain.err()).contains("say what to train", "--mm-tunable-parts");
    }

    /** The external checks' contract, through the CLI: one record, projector only, square/flat, against the golden. */
    @Test
    void gradsFollowsTheContract() throws Exception {
        JsonNode golden = JSON.readTree(Golden.resolve("train/a1_sq336_single/case.json").toFile()).at("/modes/stage1_square");
        Path grads = tmp.resolve("grads.safetensors");
        CliRunner r = CliRunner.run("train", "grads", "--model", model(), "--data", Golden.resolve("train/examples.json").toString(),
                "--image-folder", Golden.resolve("images").toString(), "--examples", "a1_sq336_single",
                "--mm-tunable-parts", "mm_mlp_adapter", "--image-aspect-ratio", "square", "--mm-patch-merge-type", "flat",
                "--out", grads.toString(), "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode got = JSON.readTree(r.out());
        assertThat(got.get("loss").asDouble()).isCloseTo(golden.get("loss").asDouble(), org.assertj.core.data.Offset.offset(1e-4));
        assertThat(got.get("num_targets").asInt()).isEqualTo(golden.get("num_trained_targets").asInt());
        JsonNode example = got.get("examples").get(0);
        assertThat(example.get("id").asText()).isEqualTo("a1_sq336_single");
        assertThat(example.get("merged_length").asInt()).isEqualTo(golden.get("merged_sequence_length").asInt());
        assertThat(example.has("input_ids") && example.has("labels") && example.has("loss")).isTrue();
        JsonNode norms = got.get("grad_l2_norms");
        assertThat(norms.size()).isEqualTo(golden.get("trainable_parameters").size());
        golden.get("grad_l2_norms").properties().forEach(e -> assertThat(norms.get(e.getKey()).asDouble()).as(e.getKey())
                .isCloseTo(e.getValue().asDouble(), org.assertj.core.data.Percentage.withPercentage(0.1)));
        try (var file = io.instella.core.safetensors.SafeTensorsFile.open(grads)) {
            for (var e : golden.get("stored_gradients").properties()) {
                var entry = file.entries().get(e.getKey());
                assertThat(entry).as(e.getKey()).isNotNull();
                assertThat(entry.dtype()).isEqualTo(io.instella.core.tensor.DType.F32);
                assertThat(entry.shape()).containsExactly(JSON.convertValue(e.getValue(), long[].class));
            }
            assertThat(file.entries().get("merged_labels").shape()).containsExactly(1, golden.get("merged_padded_length").asLong());
            assertThat(file.entries().get("merged_labels").dtype()).isEqualTo(io.instella.core.tensor.DType.I64);
            assertThat(file.entries().keySet()).hasSize(golden.get("stored_gradients").size() + 1);
        }
    }

    /**
     * With --lora-r only the adapter is saved: a projector trained beside it goes into the adapter whole
     * (modules_to_save), and a language model or vision tower trained in full is refused instead of lost.
     */
    @Test
    void aLoraRunSavesTheProjectorInTheAdapterAndRefusesPartsItWouldLose() throws Exception {
        Path data = tmp.resolve("text.jsonl");
        Files.write(data, List.of(good(1)));
        Path out = tmp.resolve("lora");
        CliRunner r = CliRunner.run("train", "--model", model(), "--data", data.toString(), "--lora-r", "4",
                "--mm-tunable-parts", "mm_mlp_adapter", "--image-aspect-ratio", "square", "--mm-patch-merge-type", "flat",
                "--max-steps", "1", "--output-dir", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.err()).contains("saved whole in the adapter", "an adapter does not carry image settings");
        assertThat(JSON.readTree(out.resolve("adapter_config.json").toFile()).get("modules_to_save").toString()).contains("mm_projector");
        try (var adapter = io.instella.core.safetensors.SafeTensorsFile.open(out.resolve("adapter_model.safetensors"))) {
            assertThat(adapter.entries().keySet()).contains("base_model.model.model.mm_projector.0.weight",
                    "base_model.model.model.mm_projector.2.bias");
        }

        CliRunner full = CliRunner.run("train", "--model", model(), "--data", data.toString(), "--lora-r", "4",
                "--mm-tunable-parts", "mm_mlp_adapter,mm_language_model", "--max-steps", "1", "--output-dir", tmp.resolve("lora2").toString());
        assertThat(full.exitCode()).isEqualTo(1);
        assertThat(full.err()).contains("only the adapter is saved", "--mm-tunable-parts mm_mlp_adapter").doesNotContain("\tat ");
    }

    @Test
    void helpListsTheContractFlags() {
        CliRunner train = CliRunner.run("train", "--help");
        assertThat(train.exitCode()).isZero();
        assertThat(train.out()).contains("--model", "--data", "--image-folder", "--mm-tunable-parts", "--image-aspect-ratio",
                "--mm-patch-merge-type", "--learning-rate", "--lr-scheduler-type", "--warmup-ratio", "--max-steps",
                "--per-device-train-batch-size", "--max-grad-norm", "--weight-decay", "--save-steps", "--save-dtype",
                "--output-dir", "--json", "--resume-from-checkpoint", "--strict-data", "grads");
        CliRunner grads = CliRunner.run("train", "grads", "--help");
        assertThat(grads.exitCode()).isZero();
        assertThat(grads.out()).contains("--model", "--data", "--image-folder", "--examples", "--mm-tunable-parts",
                "--image-aspect-ratio", "--mm-patch-merge-type", "--out", "--json");
    }

    static List<JsonNode> jsonLines(String out) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : out.lines().filter(l -> l.startsWith("{")).toList()) lines.add(JSON.readTree(l));
        return lines;
    }
}
