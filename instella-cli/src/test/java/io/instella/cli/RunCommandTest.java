package io.instella.cli;

import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.random.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code instella run}: the README's first command, on local models. */
class RunCommandTest {
    static final Path SHAPES = Path.of("../examples/shapes.png");

    @TempDir
    Path tmp;

    /** The README's first command with a local tiny model in place of amd/Instella-VL-1B. */
    @Test
    void readmeFirstCommandOnATinyModel() throws Exception {
        Path model = tmp.resolve("tiny");
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, model, Golden.resolve("model/tokenizer.json"), 11, DType.BF16);
        CliRunner r = CliRunner.run("run", "--model", model.toString(), "--image", SHAPES.toString(), "--max-new-tokens", "8",
                "Describe this image.");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out().strip()).isNotEmpty();
        assertThat(r.out()).endsWith("\n");
        assertThat(r.err()).containsPattern("load \\d+\\.\\d\\d s \\| vision \\d+\\.\\d\\d s \\(1 image\\) \\| prompt \\d+ tokens \\(2340 image\\): "
                + "\\d+ in \\d+\\.\\d\\d s, \\d+\\.\\d tok/s \\| generation \\d+ tokens in \\d+\\.\\d\\d s, \\d+\\.\\d tok/s \\| (stop|length)");
        // Not a terminal: the progress indicator writes no control characters.
        assertThat(r.err()).doesNotContain("\r");
    }

    @Test
    void quietPrintsOnlyTheAnswer() {
        CliRunner r = CliRunner.run("run", "-q", "-m", Golden.resolve("model").toString(), "--max-new-tokens", "3",
                "--ignore-eos", "Hello", "there");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.err()).isEmpty();
        assertThat(r.out().lines().count()).isEqualTo(1);
    }

    @Test
    void samplingIsReproducibleWithASeed() {
        String[] args = {"run", "-q", "-m", Golden.resolve("model").toString(), "--temperature", "0.8", "--top-p", "0.9",
                "--seed", "42", "--max-new-tokens", "10", "--ignore-eos", "Tell me something."};
        CliRunner a = CliRunner.run(args), b = CliRunner.run(args);
        assertThat(a.exitCode()).as(a.err()).isZero();
        assertThat(a.out()).isEqualTo(b.out());
    }

    @Test
    void errorsAreOneClearLine() {
        CliRunner r = CliRunner.run("run", "-m", Golden.resolve("model").toString(), "--image", tmp.resolve("nope.jpg").toString(), "Hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("instella: error:").contains("nope.jpg").contains("file not found").doesNotContain("\tat ");

        r = CliRunner.run("run", "-m", tmp.resolve("no-model").toString(), "Hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("no such model directory");

        r = CliRunner.run("run", "-m", "not-a-repo-id", "Hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("neither a model directory nor a Hugging Face repo id");

        r = CliRunner.run("run", "-m", Golden.resolve("model").toString(), "--top-p", "0", "Hi");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("Invalid value for option '--top-p'").contains("got '0'");

        r = CliRunner.run("run", "-m", Golden.resolve("model").toString(), "--ctx", "100", "--image", SHAPES.toString(), "Hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("longer than the context of 100 tokens");
    }

    @Test
    void everyCommandHasHelp() {
        for (String cmd : new String[]{"run", "chat", "download", "info", "generate", "tokenize", "detokenize", "init-random"}) {
            CliRunner r = CliRunner.run(cmd, "--help");
            assertThat(r.exitCode()).as(cmd).isZero();
            assertThat(r.out()).as(cmd).startsWith("Usage: instella " + cmd);
        }
        CliRunner r = CliRunner.run("--help");
        assertThat(r.out()).contains("run").contains("chat").contains("download").contains("info");
    }
}
