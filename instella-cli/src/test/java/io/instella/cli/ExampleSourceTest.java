package io.instella.cli;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** examples/Describe.java, the README's library example, runs as the README says (source launcher, jar on the class path). */
class ExampleSourceTest {
    @Test
    void describeExampleRuns() throws Exception {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isBlank()) cp = System.getProperty("java.class.path");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", cp,
                "../examples/Describe.java", Golden.resolve("model").toString(), "../examples/shapes.png"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        p.getOutputStream().close();
        var out = new java.io.ByteArrayOutputStream();
        var err = new java.io.ByteArrayOutputStream();
        Thread t1 = Thread.ofVirtual().start(() -> copy(p.getInputStream(), out));
        Thread t2 = Thread.ofVirtual().start(() -> copy(p.getErrorStream(), err));
        assertThat(p.waitFor(Duration.ofMinutes(2).toSeconds(), TimeUnit.SECONDS)).isTrue();
        t1.join();
        t2.join();
        String stderr = err.toString();
        assertThat(p.exitValue()).as(stderr).isZero();
        assertThat(out.toString().lines().filter(l -> !l.isBlank()).count()).isEqualTo(2);
        assertThat(stderr).containsPattern("follow-up: \\d+ prompt tokens \\(\\d+ reused\\)");
        assertThat(stderr.replaceAll("(?s).*\\((\\d+) reused\\).*", "$1")).isNotEqualTo("0");
    }

    private static void copy(java.io.InputStream in, java.io.ByteArrayOutputStream out) {
        try {
            in.transferTo(out);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
