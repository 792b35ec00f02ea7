package io.instella.cli;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An option shared by several commands is checked by one converter, so a bad value gets the same words and exit
 * code 2 from every command that takes it. (All of these fail while parsing: no model is loaded.)
 */
class OptionConsistencyTest {
    /** Each command with the arguments it needs besides the option under test. */
    private static final Map<String, List<String>> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("run", List.of("run", "hi"));
        COMMANDS.put("chat", List.of("chat"));
        COMMANDS.put("generate", List.of("generate", "--prompt", "hi"));
        COMMANDS.put("serve", List.of("serve"));
        COMMANDS.put("bench", List.of("bench"));
        COMMANDS.put("quantize", List.of("quantize", "--out", "/nonexistent/out"));
    }

    private static final List<String> SAMPLING = List.of("run", "chat", "generate");
    private static final List<String> LOADING = List.of("run", "chat", "generate", "serve");

    @Test
    void theSameBadValueGetsTheSameWordsFromEveryCommand() {
        check("--max-new-tokens", SAMPLING, "-5", "abc", "1.5", "99999999999");
        check("--temperature", SAMPLING, "-1", "NaN", "Infinity", "warm");
        check("--top-k", SAMPLING, "-1", "x");
        check("--top-p", SAMPLING, "0", "1.5", "-0.1");
        check("--min-p", SAMPLING, "2", "-1");
        check("--repetition-penalty", SAMPLING, "0", "-1");
        check("--seed", SAMPLING, "abc", "1e3");
        check("--stop", SAMPLING, "");
        check("--ctx", LOADING, "1", "0", "-3", "big");
        check("--quant", LOADING, "q5_k", "");
        check("--kv-cache", List.of("run", "chat", "generate", "serve", "bench"), "f8");
        check("--threads", List.of("run", "chat", "generate", "serve", "bench", "quantize"), "0", "-1", "100000", "many");
    }

    @Test
    void maxNewTokensMessageNamesTheOptionTheValueAndTheRange() {
        CliRunner r = CliRunner.run("generate", "--model", "x", "--prompt", "hi", "--max-new-tokens", "-5");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(firstLine(r.err())).isEqualTo(
                "instella: error: Invalid value for option '--max-new-tokens': expected a whole number from 0 to 2147483647, got '-5'");
        assertThat(r.err()).contains("Try 'instella generate --help'").doesNotContain("\tat ");
    }

    @Test
    void zeroNewTokensReadsThePromptOnlyInRunAndGenerateAlike() {
        String model = Golden.resolve("model").toString();
        CliRunner run = CliRunner.run("run", "-q", "-m", model, "--max-new-tokens", "0", "Hello");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out().strip()).isEmpty();
        CliRunner gen = CliRunner.run("generate", "--model", model, "--prompt", "Hello", "--max-new-tokens", "0", "--json");
        assertThat(gen.exitCode()).as(gen.err()).isZero();
        assertThat(gen.out()).contains("\"completion_ids\":[]").contains("\"finish_reason\":\"length\"");
    }

    @Test
    void unknownOptionsAreUsageErrorsWithASuggestion() {
        CliRunner r = CliRunner.run("run", "--max-new-token", "5", "hi");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).startsWith("instella: error: Unknown option: '--max-new-token'")
                .contains("--max-new-tokens").contains("Try 'instella run --help'");
    }

    @Test
    void serveChecksItsOwnNumbersAsUsageErrors() {
        for (String[] bad : new String[][]{{"--port", "70000"}, {"--port", "-1"}, {"--parallel", "0"}, {"--queue", "-1"},
                {"--timeout", "0"}, {"--max-body-mb", "x"}, {"--ctx", "8"}}) {
            CliRunner r = CliRunner.run("serve", bad[0] + "=" + bad[1]);
            assertThat(r.exitCode()).as(String.join(" ", bad)).isEqualTo(2);
            assertThat(r.err()).as(String.join(" ", bad)).startsWith("instella: error: Invalid value for option '" + bad[0] + "'");
        }
    }

    /** Every command in {@code commands} refuses each value with exit code 2 and the same first line. */
    private static void check(String option, List<String> commands, String... values) {
        for (String value : values) {
            List<String> lines = new ArrayList<>();
            for (String command : commands) {
                List<String> args = new ArrayList<>(COMMANDS.get(command));
                args.add(1, option + "=" + value);
                CliRunner r = CliRunner.run(args.toArray(String[]::new));
                assertThat(r.exitCode()).as("%s %s=%s: %s", command, option, value, r.err()).isEqualTo(2);
                assertThat(r.err()).as(command).doesNotContain("\tat ").contains("Try 'instella " + command + " --help'");
                lines.add(firstLine(r.err()));
            }
            assertThat(lines.getFirst()).as(option + "=" + value)
                    .startsWith("instella: error: Invalid value for option '" + option + "'").contains(": expected ")
                    .endsWith("got '" + value + "'");
            assertThat(lines).as("%s=%s in %s", option, value, commands).containsOnly(lines.getFirst());
        }
    }

    private static String firstLine(String text) {
        return text.lines().findFirst().orElse("");
    }
}
