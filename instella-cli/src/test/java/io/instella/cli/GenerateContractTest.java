package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The {@code instella generate --json --dump-tensors} contract against the golden cases. */
class GenerateContractTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"text_only_ascii", "sq336_describe", "land640x480_shapes", "wide1000x300_unicode", "tall200x900_multiturn"})
    void goldenCaseThroughTheCli(String name) throws IOException {
        Path caseDir = Golden.resolve("cases/" + name);
        JsonNode c = JSON.readTree(caseDir.resolve("case.json").toFile());
        ArrayNode messages = JSON.createArrayNode();
        for (JsonNode turn : c.get("turns")) {
            messages.addObject().put("role", "user").put("content", turn.get(0).asText());
            if (!turn.get(1).isNull()) messages.addObject().put("role", "assistant").put("content", turn.get(1).asText());
        }
        Path msgFile = tmp.resolve("messages.json");
        JSON.writeValue(msgFile.toFile(), messages);
        Path dump = tmp.resolve("dump.safetensors");
        List<String> args = new ArrayList<>(List.of("generate", "--model", Golden.resolve("model").toString(),
                "--messages", msgFile.toString(), "--max-new-tokens", "16", "--ignore-eos", "--temperature", "0",
                "--json", "--dump-tensors", dump.toString()));
        String image = c.get("image").isNull() ? null : c.get("image").asText();
        if (image != null) args.addAll(List.of("--image", Golden.resolve("images/" + image + ".png").toString()));
        CliRunner r = CliRunner.run(args.toArray(String[]::new));
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode out = JSON.readTree(r.out());
        assertThat(out.get("prompt").asText()).isEqualTo(c.get("prompt").asText());
        assertThat(out.get("input_ids")).isEqualTo(c.get("input_ids"));
        if (image != null) assertThat(out.get("num_image_tokens").asInt()).isEqualTo(c.get("num_image_tokens").asInt());
        assertThat(out.get("finish_reason").asText()).isEqualTo("length");
        int steps = robustSteps(c);
        for (int i = 0; i < steps; i++) {
            assertThat(out.get("completion_ids").get(i).asInt()).as("greedy step %d", i).isEqualTo(c.get("greedy_ids").get(i).asInt());
        }
        try (SafeTensorsFile got = SafeTensorsFile.open(dump); SafeTensorsFile exp = SafeTensorsFile.open(caseDir.resolve("tensors.safetensors"))) {
            assertThat(got.tensor("input_ids").toLongArray()).containsExactly(exp.tensor("input_ids").toLongArray());
            assertClose(got, exp, "final_hidden", 2e-3);
            assertClose(got, exp, "logits_last", 2e-3);
            if (image != null) {
                assertThat(got.tensor("image_sizes").toLongArray()).containsExactly(exp.tensor("image_sizes").toLongArray());
                try (SafeTensorsFile img = SafeTensorsFile.open(Golden.resolve("images/" + image + ".safetensors"))) {
                    assertClose(got, img, "pixel_values", 1e-5);
                    assertClose(got, img, "vision_features", 1e-3);
                    assertClose(got, img, "projected_features", 1e-3);
                    assertClose(got, img, "merged_features", 1e-3);
                }
            }
        }
    }

    @Test
    void tokenizeInputMatchesEveryTokenizerCase() throws IOException {
        JsonNode cases = JSON.readTree(Golden.resolve("tokenizer_cases.json").toFile()).get("cases");
        StringBuilder lines = new StringBuilder();
        for (JsonNode c : cases) lines.append(JSON.writeValueAsString(JSON.createObjectNode().put("text", c.get("text").asText()))).append('\n');
        Path in = tmp.resolve("in.jsonl");
        Files.writeString(in, lines);
        CliRunner r = CliRunner.run("tokenize", "--model", Golden.resolve("model").toString(), "--input", in.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        List<String> outLines = r.out().lines().toList();
        assertThat(outLines).hasSize(cases.size());
        for (int i = 0; i < cases.size(); i++) {
            JsonNode o = JSON.readTree(outLines.get(i));
            assertThat(o.get("ids")).as(cases.get(i).get("text").asText()).isEqualTo(cases.get(i).get("ids"));
            assertThat(o.get("decoded").asText()).isEqualTo(cases.get(i).get("decoded").asText());
        }
    }

    static int robustSteps(JsonNode c) {
        JsonNode m = c.get("greedy_top1_minus_top2_margin");
        for (int i = 0; i < m.size(); i++) if (m.get(i).asDouble() < 1e-2) return i + 1;
        return m.size();
    }

    static void assertClose(SafeTensorsFile got, SafeTensorsFile exp, String name, double tol) {
        float[] a = got.tensor(name).toFloatArray(), b = exp.tensor(name).toFloatArray();
        assertThat(got.tensor(name).shape()).as(name + " shape").containsExactly(exp.tensor(name).shape());
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        assertThat(m).as(name + " max |diff|").isLessThan(tol);
    }
}
