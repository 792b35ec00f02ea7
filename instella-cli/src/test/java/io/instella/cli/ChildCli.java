package io.instella.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The CLI in a child JVM (the test's own class path), for what cannot be done in-process: a different environment
 * (HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE) and real signals.
 */
final class ChildCli implements AutoCloseable {
    final Process process;
    private final Capture out;
    private final Capture err;
    private final long startNanos = System.nanoTime();

    private ChildCli(Process process) {
        this.process = process;
        this.out = new Capture(process.getInputStream());
        this.err = new Capture(process.getErrorStream());
    }

    record Result(int exitCode, String out, String err, Duration elapsed) {}

    static ChildCli start(Map<String, String> env, String... args) throws IOException {
        return start(List.of("-Xss8m", "-Xmx2g"), env, args);
    }

    /** {@link #start(Map, String...)} with these JVM options (heap and stack size) instead of the defaults. */
    static ChildCli start(List<String> jvmOptions, Map<String, String> env, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", classPath(), Main.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().keySet().removeIf(k -> k.startsWith("HF_") || k.equals("HUGGINGFACE_HUB_CACHE")
                || k.equals("TRANSFORMERS_OFFLINE") || k.endsWith("_PROXY") || k.endsWith("_proxy"));
        pb.environment().putAll(env);
        return new ChildCli(pb.start());
    }

    /** Runs to completion with stdin closed at once. */
    static Result run(Map<String, String> env, Duration timeout, String... args) throws Exception {
        return run(List.of("-Xss8m", "-Xmx2g"), env, timeout, args);
    }

    /** {@link #run(Map, Duration, String...)} with these JVM options. */
    static Result run(List<String> jvmOptions, Map<String, String> env, Duration timeout, String... args) throws Exception {
        try (ChildCli c = start(jvmOptions, env, args)) {
            c.process.getOutputStream().close();
            return c.waitFor(timeout);
        }
    }

    private static String classPath() {
        String surefire = System.getProperty("surefire.test.class.path");
        return surefire != null && !surefire.isBlank() ? surefire : System.getProperty("java.class.path");
    }

    void send(String line) throws IOException {
        process.getOutputStream().write((line + "\n").getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().flush();
    }

    String out() { return out.text(); }

    String err() { return err.text(); }

    /** Waits until {@code condition} holds for (stdout, stderr), failing after {@code timeout}. */
    void await(Duration timeout, String what, java.util.function.BiPredicate<String, String> condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.test(out(), err())) {
            if (!process.isAlive() && !condition.test(out(), err())) {
                throw new AssertionError("the CLI exited (" + process.exitValue() + ") before " + what + "\nstdout: " + out() + "\nstderr: " + err());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + "\nstdout: " + out() + "\nstderr: " + err());
            }
            Thread.sleep(20);
        }
    }

    /** Sends a signal (e.g. "INT") to the child, as a terminal's Ctrl-C does. */
    void signal(String name) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) throw new AssertionError("kill -" + name + " failed");
    }

    Result waitFor(Duration timeout) throws Exception {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the CLI did not finish within " + timeout + "\nstdout: " + out() + "\nstderr: " + err());
        }
        out.join();
        err.join();
        return new Result(process.exitValue(), out(), err(), Duration.ofNanos(System.nanoTime() - startNanos));
    }

    @Override
    public void close() {
        if (process.isAlive()) process.destroyForcibly();
    }

    /** Collects a stream on its own thread. */
    private static final class Capture extends Thread {
        private final InputStream in;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        Capture(InputStream in) {
            this.in = in;
            setDaemon(true);
            start();
        }

        @Override
        public void run() {
            byte[] b = new byte[8192];
            try {
                for (int n; (n = in.read(b)) > 0; ) {
                    synchronized (buf) {
                        buf.write(b, 0, n);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        String text() {
            synchronized (buf) {
                return buf.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
