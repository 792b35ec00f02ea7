package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Load-time quantization from the CLI: generate and run take --quant q8_0|q4_0; a bad type is a clear error. */
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
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("unknown quantization 'q3_k'").doesNotContain("\tat ");
    }
}
