package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.kernels.Bf16Dot;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --bf16-compute} turns on the opt-in BF16 compute path (process-wide; this test turns it off again). */
class Bf16ComputeFlagTest {
    @Test
    void generateWithBf16ComputeAndHelpDocumentsIt() throws Exception {
        boolean before = Bf16Dot.enabled();
        try {
            Bf16Dot.setEnabled(false);
            CliRunner r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "Hello there",
                    "--bf16-compute", "--max-new-tokens", "3", "--ignore-eos", "--json");
            assertThat(r.exitCode()).as(r.err()).isZero();
            assertThat(new ObjectMapper().readTree(r.out()).get("completion_ids").size()).isEqualTo(3);
            assertThat(Bf16Dot.enabled()).isTrue();
        } finally {
            Bf16Dot.setEnabled(before);
        }
        for (String command : new String[]{"run", "generate", "chat", "serve", "bench"}) {
            CliRunner help = CliRunner.run(command, "--help");
            assertThat(help.out()).as(command).contains("--bf16-compute");
        }
    }
}
