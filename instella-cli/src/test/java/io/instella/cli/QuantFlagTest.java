package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Load-time quantization from the CLI: generate and run take --quant q8_0|q4_0 and --kv-cache f16|f32; a bad
 * type is a clear error.
 */
class QuantFlagTest {
    @Test
    void generateWithLoadTimeQuantization() throws Exception {
        for (String q : new String[]{"q8_0", "q4_0"}) {
            CliRunner r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "Hello there",
                    "--image", Golden.resolve("images/sq336.png").toString(), "--quant", q, "--max-new-tokens", "4",
                    "--ignore-eos", "--json");
            assertThat(r.exitCode()).as(r.err()).isZero();
            JsonNode out = new ObjectMapper().readTree(r.out());
            assertThat(out.get("completion_ids").size()).isEqualTo(4);
            assertThat(out.get("num_image_tokens").asInt()).isEqualTo(1176);
        }
    }

    @Test
    void runWithQuantizationAndABadType() {
        CliRunner r = CliRunner.run("run", "--model", Golden.resolve("model").toString(), "--quant", "q8_0",
                "--max-new-tokens", "3", "-q", "Say hi");
        assertThat(r.exitCode()).as(r.err()).isZero();
        r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "x", "--quant", "q3_k");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("Invalid value for option '--quant': expected q8_0 or q4_0, got 'q3_k'").doesNotContain("\tat ");
    }

    @Test
    void kvCacheTypeFlag() throws Exception {
        // Short greedy answers agree between a float and a half-float cache on the golden model.
        String[] answers = new String[2];
        String[] types = {"f32", "f16"};
        for (int i = 0; i < 2; i++) {
            CliRunner r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "Hello there",
                    "--kv-cache", types[i], "--max-new-tokens", "4", "--ignore-eos", "--json");
            assertThat(r.exitCode()).as(r.err()).isZero();
            answers[i] = new ObjectMapper().readTree(r.out()).get("completion_ids").toString();
        }
        assertThat(answers[1]).isEqualTo(answers[0]);
        CliRunner r = CliRunner.run("run", "--model", Golden.resolve("model").toString(), "--kv-cache", "f16",
                "--max-new-tokens", "2", "-q", "Say hi");
        assertThat(r.exitCode()).as(r.err()).isZero();
        r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "x", "--kv-cache", "q8");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("Invalid value for option '--kv-cache': expected f16 or f32, got 'q8'").doesNotContain("\tat ");
        r = CliRunner.run("run", "--model", Golden.resolve("model").toString(), "--kv-cache", "int4", "-q", "x");
        assertThat(r.exitCode()).isNotZero();
        assertThat(r.err()).contains("f16 or f32").doesNotContain("\tat ");
    }
}
