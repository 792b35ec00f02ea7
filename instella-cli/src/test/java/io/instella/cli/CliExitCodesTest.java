package io.instella.cli;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Whatever goes wrong, the exit code is one the README lists (0, 1, 2, 130) and stderr has one line, without a stack
 * trace unless --verbose; files that are not regular files are refused at once instead of read forever.
 */
class CliExitCodesTest {
    @TempDir
    Path tmp;

    /** A command that fails the way a bug would. */
    @Command(name = "boom")
    static final class Boom implements Callable<Integer> {
        @CommandLine.Option(names = "--with")
        String with = "npe";

        @Override
        public Integer call() {
            return switch (with) {
                case "npe" -> ((String) System.getProperty("instella.test.no.such.property")).length();
                case "oom" -> throw new OutOfMemoryError("Java heap space");
                case "stack" -> throw new StackOverflowError();
                case "index" -> List.<Integer>of().get(0);
                case "code" -> 70;
                case "io" -> throw new java.io.UncheckedIOException(new java.nio.file.NoSuchFileException("/no/such/file"));
                case "lines" -> throw new io.instella.model.InstellaException("first line\nsecond line");
                default -> throw new IllegalStateException("unknown --with " + with);
            };
        }
    }

    private static CliRunner boom(String... args) {
        CommandLine cl = Main.commandLine();
        cl.addSubcommand("boom", new Boom());
        return CliRunner.run(cl, args);
    }

    @Test
    void anUnexpectedExceptionIsOneLineAndExitCode1() {
        for (String kind : new String[]{"npe", "index", "stack", "oom"}) {
            CliRunner r = boom("boom", "--with", kind);
            assertThat(r.exitCode()).as(kind).isEqualTo(1);
            assertThat(r.err().lines()).as(kind).hasSize(1);
            assertThat(r.err()).as(kind).startsWith("instella: error: ")
                    .doesNotContain("\tat ").doesNotContain("at io.instella").doesNotContain("java.lang").doesNotContain("Exception");
        }
        assertThat(boom("boom", "--with", "npe").err()).contains("unexpected internal error in 'instella boom'").contains("--verbose");
        assertThat(boom("boom", "--with", "oom").err()).contains("out of memory").contains("INSTELLA_JAVA_OPTS=-Xmx");
    }

    @Test
    void verboseShowsTheStackTraceOnAnyCommandLevel() {
        for (String[] args : new String[][]{{"boom", "--verbose"}, {"--verbose", "boom"}}) {
            CliRunner r = boom(args);
            assertThat(r.exitCode()).isEqualTo(1);
            assertThat(r.err()).startsWith("instella: error: ").contains("NullPointerException").contains("\tat io.instella.cli.");
        }
        CliRunner r = boom("boom", "--verbose", "--with", "oom");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("OutOfMemoryError").contains("\tat ");
        assertThat(CliRunner.run("run", "--help").out()).contains("--verbose");
        assertThat(CliRunner.run("--help").out()).contains("--verbose");
    }

    @Test
    void ioFailuresAndMultiLineMessagesAreOneLineInWords() {
        CliRunner r = boom("boom", "--with", "io");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("instella: error: /no/such/file: file not found\n");
        r = boom("boom", "--with", "lines");
        assertThat(r.err()).isEqualTo("instella: error: first line second line\n");
    }

    @Test
    void anExitCodeOutsideTheListBecomes1() {
        assertThat(boom("boom", "--with", "code").exitCode()).isEqualTo(1);
    }

    @Test
    void aDirectoryOrAMissingFileAsAnImageIsAClearErrorInEveryCommand() throws Exception {
        String model = Golden.resolve("model").toString();
        Path dir = Files.createDirectories(tmp.resolve("photos"));
        Path missing = tmp.resolve("missing.png");
        for (Path image : List.of(dir, missing)) {
            String expected = "instella: error: " + image + (image == dir ? " is a directory, not a file" : ": file not found");
            for (String[] args : new String[][]{{"run", "-m", model, "--image", image.toString(), "hi"},
                    {"generate", "--model", model, "--prompt", "hi", "--image", image.toString()},
                    {"chat", "--model", model, "--quiet", "--image", image.toString()}}) {
                CliRunner r = CliRunner.runWithStdin("", args);
                assertThat(r.exitCode()).as(args[0]).isEqualTo(1);
                assertThat(r.err().strip()).as(args[0]).isEqualTo(expected);
            }
        }
    }

    @Test
    void devZeroAsAnImageIsRefusedAtOnce() throws Exception {
        assumeTrue(Files.exists(Path.of("/dev/zero")), "no /dev/zero on this system");
        // In a child JVM: were the check missing, reading /dev/zero would fill this JVM's heap.
        ChildCli.Result r = ChildCli.run(Map.of(), Duration.ofSeconds(60), "generate", "--model",
                Golden.resolve("model").toString(), "--prompt", "hi", "--image", "/dev/zero");
        assertThat(r.exitCode()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains("instella: error: /dev/zero is not a regular file (a device, FIFO or socket)")
                .doesNotContain("\tat ");
    }

    /** `run < /dev/zero` read until the heap was full; a question on stdin is now capped (16 MiB). */
    @Test
    void endlessStdinIsRefusedNotReadWhole() throws Exception {
        try (ChildCli c = ChildCli.start(List.of("-Xss8m", "-Xmx256m"), Map.of(), "run", "-m", Golden.resolve("model").toString())) {
            Thread feeder = new Thread(() -> {
                byte[] zeros = new byte[1 << 20];
                try (var in = c.process.getOutputStream()) {
                    for (int i = 0; i < 64; i++) in.write(zeros);
                } catch (java.io.IOException expected) {
                    // the CLI stopped reading and exited: the pipe is closed
                }
            });
            feeder.setDaemon(true);
            feeder.start();
            ChildCli.Result r = c.waitFor(Duration.ofSeconds(60));
            assertThat(r.exitCode()).as(r.err()).isEqualTo(2);
            assertThat(r.err()).contains("QUESTION on stdin is longer than 16 MiB").doesNotContain("\tat ");
        }
    }

    @Test
    void aFifoWithNoWriterIsRefusedAtOnceByEveryFileOption() throws Exception {
        Path fifo = tmp.resolve("image.fifo");
        int made;
        try {
            made = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor();
        } catch (java.io.IOException e) {
            made = -1;
        }
        assumeTrue(made == 0 && Files.exists(fifo), "mkfifo is not available");
        String model = Golden.resolve("model").toString();
        for (String[] args : new String[][]{{"run", "-m", model, "--image", fifo.toString(), "hi"},
                {"chat", "-m", model, "--image", fifo.toString()},
                {"generate", "--model", model, "--prompt", "hi", "--image", fifo.toString()},
                {"generate", "--model", model, "--messages", fifo.toString()},
                {"tokenize", "--model", model, "--input", fifo.toString()},
                {"detokenize", "--model", model, "--input", fifo.toString()}}) {
            CliRunner r = refusedAtOnce(fifo, args);
            assertThat(r.exitCode()).as(args[0]).isEqualTo(1);
            assertThat(r.err().strip()).as(args[0]).isEqualTo("instella: error: " + fifo
                    + " is not a regular file (a device, FIFO or socket); save its content to a file and pass that");
        }
        CliRunner score = refusedAtOnce(fifo, "eval", "score", "--task", "pope", "--predictions", fifo.toString());
        assertThat(score.exitCode()).isEqualTo(2);
        assertThat(score.err()).contains("not a regular file (a device, FIFO or socket)");
    }

    /**
     * Runs the CLI in-process on arguments naming {@code fifo}; should it open the FIFO and block, a writer opens it
     * after 20 s, so that the read ends (with no bytes) and the test fails instead of hanging.
     */
    private static CliRunner refusedAtOnce(Path fifo, String... args) {
        Thread unblock = Thread.ofPlatform().daemon().unstarted(() -> {
            try {
                Thread.sleep(20_000);
                try (var w = Files.newOutputStream(fifo)) {
                    w.flush();
                }
            } catch (Exception ignored) {
                // interrupted: the command ended in time
            }
        });
        unblock.start();
        long t0 = System.nanoTime();
        CliRunner r = CliRunner.runWithStdin("", args);
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        unblock.interrupt();
        assertThat(took).as("time to refuse %s", String.join(" ", args)).isLessThan(Duration.ofSeconds(20));
        return r;
    }

    @Test
    void usageErrorsAreExitCode2WithWhereToLook() {
        CliRunner r = CliRunner.run("generate", "--model", "x");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).startsWith("instella: error: ").contains("--prompt").contains("Try 'instella generate --help'");
        assertThat(CliRunner.run("no-such-command").exitCode()).isEqualTo(2);
    }
}
