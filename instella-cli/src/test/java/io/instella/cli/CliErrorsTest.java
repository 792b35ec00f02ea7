package io.instella.cli;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Bad input gets one clear line on stderr and a non-zero exit, never a stack trace. */
class CliErrorsTest {
    @TempDir
    Path tmp;

    @Test
    void missingModelDirectory() {
        CliRunner r = CliRunner.run("generate", "--model", tmp.resolve("nope").toString(), "--prompt", "hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("instella: error:").contains("no such model directory").doesNotContain("\tat ");
    }

    @Test
    void promptLongerThanTheContext() {
        CliRunner r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "hello there",
                "--ctx", "8", "--max-new-tokens", "2");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("longer than the context of 8 tokens").doesNotContain("\tat ");
        r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "hello",
                "--ctx", "20", "--max-new-tokens", "100");
        assertThat(r.err()).contains("lower max_new_tokens to at most");
    }

    @Test
    void corruptWeights() throws IOException {
        Path m = tmp.resolve("m");
        Files.createDirectories(m);
        for (String f : new String[]{"config.json", "tokenizer.json", "generation_config.json"}) {
            Files.copy(Golden.resolve("model/" + f), m.resolve(f));
        }
        Files.createDirectories(m.resolve("vision_tower"));
        Files.copy(Golden.resolve("model/vision_tower/config.json"), m.resolve("vision_tower/config.json"));
        byte[] w = Files.readAllBytes(Golden.resolve("model/model.safetensors"));
        Files.write(m.resolve("model.safetensors"), java.util.Arrays.copyOf(w, w.length / 2));
        CliRunner r = CliRunner.run("generate", "--model", m.toString(), "--prompt", "hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("model.safetensors").contains("truncated").doesNotContain("\tat ");
    }

    @Test
    void notAnImage() throws IOException {
        Path bad = tmp.resolve("x.png");
        Files.writeString(bad, "this is not a png");
        CliRunner r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "hi", "--image", bad.toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("x.png").doesNotContain("\tat ");
    }

    @Test
    void imagesOnATextPromptWithoutPlaceholder() {
        CliRunner r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--raw-prompt", "no placeholder",
                "--image", Golden.resolve("images/sq336.png").toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("0 <image> placeholder(s) but 1 image(s)");
    }

    @Test
    void usageErrors() {
        CliRunner r = CliRunner.run("generate", "--model", "x");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("--prompt");
    }

    @Test
    void initRandomRefusesToOverwrite() throws IOException {
        Path out = tmp.resolve("rnd");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "mine");
        CliRunner r = CliRunner.run("init-random", "--preset", "tiny", "--out", out.toString(),
                "--tokenizer", Golden.resolve("model/tokenizer.json").toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("not empty");
        assertThat(Files.readString(out.resolve("keep.txt"))).isEqualTo("mine");
    }

    @Test
    void randomTinyModelGenerates() throws IOException {
        Path out = tmp.resolve("tiny");
        CliRunner r = CliRunner.run("init-random", "--preset", "tiny", "--out", out.toString(), "--seed", "7",
                "--tokenizer", Golden.resolve("model/tokenizer.json").toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        r = CliRunner.run("generate", "--model", out.toString(), "--prompt", "What is in the picture?",
                "--image", Golden.resolve("images/land640x480.png").toString(), "--max-new-tokens", "5", "--json", "--ignore-eos");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).contains("\"num_image_tokens\":2340").contains("\"finish_reason\":\"length\"");
        // same seed, same bytes
        Path again = tmp.resolve("tiny2");
        CliRunner.run("init-random", "--preset", "tiny", "--out", again.toString(), "--seed", "7",
                "--tokenizer", Golden.resolve("model/tokenizer.json").toString());
        assertThat(Files.mismatch(out.resolve("model.safetensors"), again.resolve("model.safetensors"))).isEqualTo(-1L);
    }

    /** The golden model with its config.json changed by {@code edit}; the other files are links to the originals. */
    private Path modelWithConfig(java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> edit) throws IOException {
        Path golden = Golden.resolve("model");
        Path m = Files.createDirectories(tmp.resolve("edited-model"));
        try (var files = Files.list(golden)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("config.json")) Files.createSymbolicLink(m.resolve(f.getFileName()), f);
            }
        }
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(golden.resolve("config.json").toFile());
        edit.accept(config);
        json.writeValue(m.resolve("config.json").toFile(), config);
        return m;
    }

    /**
     * Issue 14: "eos_token_id": [] was an NPE with a stack trace and exit code 70. An empty list means "none given
     * here": the stop ids come from generation_config.json or the tokenizer, and the model answers.
     */
    @Test
    void emptyEosTokenIdListLoadsAndAnswers() throws IOException {
        Path m = modelWithConfig(c -> c.putArray("eos_token_id"));
        CliRunner r = CliRunner.run("generate", "--model", m.toString(), "--prompt", "hi", "--max-new-tokens", "2");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.err()).doesNotContain("\tat ").doesNotContain("java.lang").doesNotContain("Exception");
    }

    /**
     * Issue 14: "num_hidden_layers": 2147483647 ran for minutes while memory grew. Now the config checks refuse it
     * before anything is allocated: exit code 1 and one line naming the field.
     */
    @Test
    void absurdLayerCountEndsQuicklyWithOneLine() throws Exception {
        Path m = modelWithConfig(c -> c.put("num_hidden_layers", Integer.MAX_VALUE));
        ChildCli.Result r = ChildCli.run(List.of("-Xss8m", "-Xmx256m"), Map.of(), Duration.ofSeconds(90),
                "generate", "--model", m.toString(), "--prompt", "hi", "--max-new-tokens", "2");
        // The JVM's own start-up notes (the incubator module warning) are not the CLI's output.
        String err = r.err().lines().filter(l -> !l.startsWith("WARNING:")).collect(java.util.stream.Collectors.joining("\n"));
        assertThat(r.exitCode()).as(err).isEqualTo(1);
        assertThat(err).startsWith("instella: error: ").contains("num_hidden_layers").doesNotContain("\tat ")
                .doesNotContain("java.lang");
        assertThat(err.lines()).hasSize(1);
    }
}
