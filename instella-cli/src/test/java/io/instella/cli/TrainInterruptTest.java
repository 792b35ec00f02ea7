package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.testing.Golden;
import io.instella.train.checkpoint.TrainingCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code instella train} in a child JVM, for what needs a real process: Ctrl-C (SIGINT) saves a checkpoint and exits
 * with 130, and the run resumes from it; SIGKILL in the middle of a save leaves every earlier checkpoint complete, and
 * the next run cleans the leftovers and goes on; a heap too small for the run is refused with the numbers.
 */
class TrainInterruptTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final int STEPS = 6;

    @TempDir
    Path tmp;

    /** A text-only run of the whole language model: a step takes well under a second, a save tens of MB. */
    private List<String> trainArgs(Path data, Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--model", Golden.resolve("model").toString(),
                "--data", data.toString(), "--mm-tunable-parts", "mm_language_model", "--learning-rate", "1e-3",
                "--lr-scheduler-type", "cosine", "--warmup-ratio", "0.1", "--max-steps", Integer.toString(STEPS),
                "--output-dir", out.toString(), "--json"));
        args.addAll(List.of(more));
        return args;
    }

    private Path textData() throws IOException {
        Path data = tmp.resolve("text.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            lines.add("{\"id\": \"t" + i + "\", \"conversations\": [{\"from\": \"human\", \"value\": \"What is " + i
                    + " + 1?\"}, {\"from\": \"gpt\", \"value\": \"" + i + " + 1 = " + (i + 1) + ".\"}]}");
        }
        Files.write(data, lines);
        return data;
    }

    @Test
    void ctrlCSavesACheckpointExitsWith130AndTheRunResumesFromIt() throws Exception {
        Path data = textData(), out = tmp.resolve("out");
        ChildCli.Result stopped;
        try (ChildCli child = ChildCli.start(Map.of(), trainArgs(data, out, "--save-steps", "100").toArray(String[]::new))) {
            child.process.getOutputStream().close();
            child.await(Duration.ofSeconds(60), "the first step", (o, e) -> e.contains("train: step 1/" + STEPS));
            child.signal(sigintIgnored() ? "TERM" : "INT");
            stopped = child.waitFor(Duration.ofSeconds(60));
        }
        assertThat(stopped.exitCode()).as(stopped.err()).isEqualTo(sigintIgnored() ? 143 : 130);
        int done = TrainCommandTest.jsonLines(stopped.out()).size();
        assertThat(done).as(stopped.err()).isBetween(1, STEPS - 1);
        assertThat(stopped.err()).contains("train: interrupted: finishing the current step, then saving a checkpoint",
                        "stopping at step " + done + " of " + STEPS, "saved " + out.resolve("checkpoint-" + done))
                .doesNotContain("Exception", "\tat ");
        assertThat(checkpointSteps(out)).containsExactly((long) done);
        try (TrainingCheckpoint cp = TrainingCheckpoint.read(out.resolve("checkpoint-" + done))) {
            assertThat(cp.globalStep()).isEqualTo(done);
            assertThat(cp.hasOptimizerState()).isTrue();
        }
        assertThat(JSON.readTree(out.resolve("checkpoint-" + done + "/trainer_state.json").toFile()).get("global_step").asLong())
                .isEqualTo(done);
        assertThat(out.resolve("config.json")).doesNotExist(); // no final model from an interrupted run

        CliRunner resumed = CliRunner.run(verbose(trainArgs(data, out, "--save-steps", "100", "--resume-from-checkpoint", "latest")));
        assertThat(resumed.exitCode()).as(resumed.err()).isZero();
        assertThat(resumed.err()).contains("resumed from", "at step " + done);
        List<JsonNode> rest = TrainCommandTest.jsonLines(resumed.out());
        assertThat(rest).hasSize(STEPS - done);
        assertThat(rest.getFirst().get("step").asInt()).isEqualTo(done + 1);
        assertThat(rest.getLast().get("step").asInt()).isEqualTo(STEPS);
        assertThat(out.resolve("config.json")).isRegularFile();
    }

    /**
     * SIGKILL as soon as a save's temporary folder appears (twice: the second run resumes from what the first left),
     * then a last run finishes: every checkpoint-N that exists at any point is complete, and leftovers are removed.
     */
    @Test
    void aKillDuringASaveLeavesThePreviousCheckpointsIntact() throws Exception {
        Path data = textData(), out = tmp.resolve("out");
        int killedMidSave = 0;
        for (int round = 0; round < 2; round++) {
            Set<String> leftoversBefore = leftovers(out);
            long newestBefore = checkpointSteps(out).stream().mapToLong(Long::longValue).max().orElse(0);
            List<String> args = trainArgs(data, out, "--save-steps", "1");
            if (round > 0) args.addAll(List.of("--resume-from-checkpoint", "latest"));
            try (ChildCli child = ChildCli.start(Map.of(), args.toArray(String[]::new))) {
                child.process.getOutputStream().close();
                // Wait for a save that has a complete checkpoint before it: in the first run its second save, in a
                // resumed run its first.
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                while (true) {
                    boolean newCheckpoint = newestBefore > 0 || checkpointSteps(out).stream().anyMatch(s -> s > newestBefore);
                    Set<String> saving = leftovers(out);
                    saving.removeAll(leftoversBefore);
                    if (newCheckpoint && !saving.isEmpty()) break;
                    if (!child.process.isAlive()) throw new AssertionError("the run ended before a save could be interrupted\n" + child.err());
                    if (System.nanoTime() > deadline) throw new AssertionError("no save seen\n" + child.err());
                    Thread.sleep(1);
                }
                child.process.destroyForcibly(); // SIGKILL, sent at once (no kill process to start first)
                child.process.waitFor();
            }
            Set<String> left = leftovers(out);
            left.removeAll(leftoversBefore);
            if (!left.isEmpty()) killedMidSave++;
            List<Long> steps = checkpointSteps(out);
            assertThat(steps).isNotEmpty();
            for (long step : steps) {
                try (TrainingCheckpoint cp = TrainingCheckpoint.read(out.resolve("checkpoint-" + step))) {
                    assertThat(cp.globalStep()).isEqualTo(step);
                    assertThat(cp.hasOptimizerState()).isTrue();
                    assertThat(cp.parameterNames()).isNotEmpty();
                }
            }
        }
        assertThat(killedMidSave).as("a kill landed inside a save at least once").isPositive();

        long latest = checkpointSteps(out).stream().mapToLong(Long::longValue).max().orElseThrow();
        boolean leftBehind = !leftovers(out).isEmpty();
        CliRunner last = CliRunner.run(verbose(trainArgs(data, out, "--save-steps", "100", "--resume-from-checkpoint", "latest")));
        assertThat(last.exitCode()).as(last.err()).isZero();
        assertThat(last.err()).contains("resumed from " + out.resolve("checkpoint-" + latest) + " at step " + latest);
        if (leftBehind) assertThat(last.err()).contains("leftover(s) of an interrupted save");
        assertThat(leftovers(out)).isEmpty();
        List<JsonNode> rest = TrainCommandTest.jsonLines(last.out());
        assertThat(rest).hasSize((int) (STEPS - latest));
        assertThat(out.resolve("config.json")).isRegularFile();
    }

    @Test
    void aRunThatCannotFitInTheHeapSaysSoWithTheNumbers() throws Exception {
        Path data = textData();
        ChildCli.Result r = ChildCli.run(List.of("-Xss8m", "-Xmx64m"), Map.of(), Duration.ofSeconds(60),
                trainArgs(data, tmp.resolve("out")).toArray(String[]::new));
        assertThat(r.exitCode()).as(r.err()).isEqualTo(1);
        List<String> errors = r.err().lines().filter(l -> l.startsWith("instella: error:")).toList();
        assertThat(errors).as(r.err()).hasSize(1);
        assertThat(errors.getFirst()).containsPattern("needs about [0-9.]+ GB of Java heap")
                .containsPattern("trained parameters at 16 bytes each").containsPattern("the heap limit is 0\\.0[0-9] GB")
                .contains("--lora-r", "INSTELLA_JAVA_OPTS=-Xmx");
        assertThat(r.err()).doesNotContain("OutOfMemoryError", "\tat ");
        assertThat(r.out()).isEmpty();
    }

    /**
     * Whether this JVM was started with SIGINT ignored (a background job of a non-interactive shell): its children
     * inherit that and never see Ctrl-C, so the test sends SIGTERM instead, which runs the same shutdown hook.
     */
    static boolean sigintIgnored() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("SigIgn:")) return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & 2) != 0;
            }
        } catch (IOException | RuntimeException notLinux) {
            // assume the usual: SIGINT is delivered
        }
        return false;
    }

    /** The arguments with --verbose first: a failure then shows its stack trace in the test's report. */
    private static String[] verbose(List<String> args) {
        List<String> all = new ArrayList<>(List.of("--verbose"));
        all.addAll(args);
        return all.toArray(String[]::new);
    }

    /** Steps of the complete checkpoints ({@code checkpoint-N}) in {@code out}, ascending. */
    static List<Long> checkpointSteps(Path out) throws IOException {
        if (!Files.isDirectory(out)) return List.of();
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.matches("checkpoint-\\d+"))
                    .map(n -> Long.parseLong(n.substring("checkpoint-".length()))).sorted().toList();
        } catch (java.nio.file.NoSuchFileException raced) {
            return List.of();
        }
    }

    /** What an unfinished save leaves in {@code out}: hidden temporary folders and files. */
    static Set<String> leftovers(Path out) throws IOException {
        if (!Files.isDirectory(out)) return new HashSet<>();
        try (Stream<Path> s = Files.list(out)) {
            return new HashSet<>(s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList());
        }
    }
}
