package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code instella chat} driven through stdin, as a script (or a person at a pipe) drives it. */
class ChatCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path SHAPES = Path.of("../examples/shapes.png");

    @TempDir
    Path tmp;

    @Test
    void twoTurnsWithAnImageThenReset() throws Exception {
        Path first = tmp.resolve("first.json"), second = tmp.resolve("second.json");
        String script = String.join("\n",
                "/image " + SHAPES,
                "What shapes do you see?",
                "Which one is the largest?",
                "/save " + first,
                "/reset",
                "/nonsense",
                "Hello there",
                "/save " + second,
                "");
        CliRunner r = CliRunner.runWithStdin(script, "chat", "--model", Golden.resolve("model").toString(),
                "--max-new-tokens", "6", "--ignore-eos");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.err()).contains("attached ../examples/shapes.png (640x480, 2340 image tokens)")
                .contains("new conversation").contains("unknown command /nonsense").doesNotContain("\tat ");
        // No terminal: no prompt, no control characters; three answers on stdout, one per line.
        assertThat(r.out()).doesNotContain(">>>").doesNotContain("\r");
        assertThat(r.out().lines().filter(l -> !l.isBlank()).count()).isEqualTo(3);

        JsonNode a = JSON.readTree(first.toFile()).get("messages");
        assertThat(a).hasSize(4);
        assertThat(a.get(0).get("role").asText()).isEqualTo("user");
        assertThat(a.get(0).get("images").get(0).asText()).isEqualTo(SHAPES.toString());
        assertThat(a.get(1).get("role").asText()).isEqualTo("assistant");
        assertThat(a.get(2).get("content").asText()).isEqualTo("Which one is the largest?");
        assertThat(a.get(2).has("images")).isFalse();
        JsonNode b = JSON.readTree(second.toFile()).get("messages");
        assertThat(b).hasSize(2);
        assertThat(b.get(0).get("content").asText()).isEqualTo("Hello there");
        assertThat(b.get(0).has("images")).isFalse();

        // Timing lines: the image is encoded for the first turn only; the second turn reuses the first's prompt.
        var stats = r.err().lines().filter(l -> l.contains("tok/s")).toList();
        assertThat(stats).hasSize(3);
        assertThat(stats.get(0)).startsWith("vision ").contains("(2340 image)").doesNotContain("reused");
        assertThat(stats.get(1)).doesNotStartWith("vision ");
        Matcher m = Pattern.compile("prompt (\\d+) tokens \\(2340 image\\), (\\d+) reused").matcher(stats.get(1));
        assertThat(m.find()).as(stats.get(1)).isTrue();
        int firstPrompt = Integer.parseInt(stats.get(0).replaceAll(".*prompt (\\d+) tokens.*", "$1"));
        assertThat(Integer.parseInt(m.group(2))).isGreaterThanOrEqualTo(firstPrompt);
        assertThat(stats.get(2)).doesNotContain("image");
    }

    @Test
    void badImageAndBadQuestionKeepTheSessionAlive() {
        CliRunner r = CliRunner.runWithStdin(String.join("\n", "/image " + tmp.resolve("missing.png"), "/image", "Hi", "/exit",
                        "never asked", ""),
                "chat", "--model", Golden.resolve("model").toString(), "--max-new-tokens", "3", "--ignore-eos", "--quiet");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.err()).contains("error: ").contains("missing.png").contains("file not found").contains("usage: /image PATH");
        assertThat(r.out().lines().filter(l -> !l.isBlank()).count()).isEqualTo(1);
    }

    /**
     * A real SIGINT (what Ctrl-C sends) while an answer is being written stops that answer, not the session: the
     * next command still runs. A second SIGINT at the prompt ends the session with 130.
     */
    @Test
    void ctrlCStopsTheAnswerNotTheSession() throws Exception {
        Path saved = tmp.resolve("after-cancel.json");
        try (ChildCli chat = ChildCli.start(Map.of(), "chat", "--model", Golden.resolve("model").toString(),
                "--max-new-tokens", "30000", "--ignore-eos")) {
            chat.send("Tell me a very long story.");
            chat.await(Duration.ofSeconds(60), "the answer to start", (out, err) -> out.strip().length() > 20);
            chat.signal("INT");
            chat.await(Duration.ofSeconds(20), "the answer to stop", (out, err) -> err.contains("[answer stopped]"));
            assertThat(chat.process.isAlive()).isTrue();
            chat.send("/save " + saved);
            chat.await(Duration.ofSeconds(20), "the conversation to be saved", (out, err) -> err.contains("saved 2 messages"));
            chat.signal("INT");
            ChildCli.Result r = chat.waitFor(Duration.ofSeconds(20));
            assertThat(r.exitCode()).isEqualTo(130);
            assertThat(r.err()).contains("| cancelled").doesNotContain("\tat ");
        }
        JsonNode messages = JSON.readTree(saved.toFile()).get("messages");
        assertThat(messages.get(0).get("content").asText()).isEqualTo("Tell me a very long story.");
        assertThat(messages.get(1).get("role").asText()).isEqualTo("assistant");
        assertThat(messages.get(1).get("content").asText()).isNotBlank();
        assertThat(Files.exists(saved)).isTrue();
    }
}
