package io.instella.cli;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code instella serve} as a real process: it starts, serves, and on SIGTERM ends its requests cleanly. */
class ServeCommandTest {

    @Test
    void helpListsTheOptions() {
        CliRunner r = CliRunner.run("serve", "--help");
        assertThat(r.exitCode()).isZero();
        assertThat(r.out()).contains("--model", "--host", "--port", "--api-key", "--parallel", "--ctx", "--allow-image-host",
                "--cors-origin", "--max-body-mb", "--timeout");
    }

    @Test
    void aBadModelDirectoryIsAClearError() {
        CliRunner r = CliRunner.run("serve", "--model", "/nonexistent/model", "--port", "0");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("no such model directory");
    }

    @Test
    void theHeapMustHoldWhatTheServerMayKeep() {
        // This JVM's heap cap is not 3g: --memory must match the -Xmx the launcher derives from it.
        CliRunner wrong = CliRunner.run("serve", "--model", Golden.resolve("model").toString(), "--port", "0", "--memory", "3g");
        assertThat(wrong.exitCode()).isEqualTo(1);
        assertThat(wrong.err()).contains("--memory 3g", "-Xmx3g").doesNotContain("Exception");
        CliRunner notASize = CliRunner.run("serve", "--model", Golden.resolve("model").toString(), "--port", "0", "--memory", "lots");
        assertThat(notASize.exitCode()).isEqualTo(1);
        assertThat(notASize.err()).contains("not a size");
        // 100 GB of kept KV caches cannot fit in any heap this test runs with.
        CliRunner tooMuch = CliRunner.run("serve", "--model", Golden.resolve("model").toString(), "--port", "0",
                "--prefix-cache-mb", "100000");
        assertThat(tooMuch.exitCode()).isEqualTo(1);
        assertThat(tooMuch.err()).contains("the server needs up to", "heap cap", "give --memory", "--prefix-cache-mb");
    }

    @Test
    void sigtermLetsRunningRequestsFinishOrEndsThemCleanly() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-Xss8m", "-Xmx2g",
                "-cp", System.getProperty("java.class.path"), "io.instella.cli.Main", "serve",
                "--model", Golden.resolve("model").toString(), "--port", "0", "--shutdown-grace", "3",
                // what the server may hold must fit in the child's 2 GiB heap (checked at startup)
                "--prefix-cache-mb", "64"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String url = null;
            StringBuffer log = new StringBuffer();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (String line; url == null && System.nanoTime() < deadline && (line = out.readLine()) != null; ) {
                log.append(line).append('\n');
                Matcher m = Pattern.compile("serving \\S+ on (http://127\\.0\\.0\\.1:\\d+)").matcher(line);
                if (m.find()) url = m.group(1);
            }
            assertThat(url).as(log.toString()).isNotNull();
            // Own threads: the common pool may have a single thread on a small machine.
            ExecutorService threads = Executors.newFixedThreadPool(2);

            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            // One request short enough to finish within the 3 s grace even on a loaded 2-core machine with a cold JIT
            // (it may also finish before the signal, which the assertions allow), one far too long for it.
            List<String> shortEvents = Collections.synchronizedList(new ArrayList<>());
            List<String> longEvents = Collections.synchronizedList(new ArrayList<>());
            String finalUrl = url;
            CompletableFuture<Void> readShort = CompletableFuture.runAsync(() -> stream(http, finalUrl, 40, shortEvents), threads);
            CompletableFuture<Void> readLong = CompletableFuture.runAsync(() -> stream(http, finalUrl, 3500, longEvents), threads);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while ((shortEvents.size() < 3 || longEvents.size() < 3) && System.nanoTime() < until) Thread.sleep(5);
            assertThat(longEvents).as(log + "\nshort: " + shortEvents).hasSizeGreaterThanOrEqualTo(3);

            p.toHandle().destroy(); // SIGTERM (Process.destroy would also close our end of its output)
            readShort.get(30, TimeUnit.SECONDS);
            readLong.get(30, TimeUnit.SECONDS);
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as(log.toString()).isTrue();
            // The child writes a few lines only, so its pipe never fills: read the rest once it has exited.
            out.lines().forEach(l -> log.append(l).append('\n'));
            threads.shutdown();

            assertThat(shortEvents.getLast()).isEqualTo("data: [DONE]");
            assertThat(shortEvents.get(shortEvents.size() - 2)).contains("\"finish_reason\":\"length\"");
            assertThat(longEvents.getLast()).isEqualTo("data: [DONE]");
            assertThat(longEvents.get(longEvents.size() - 2)).contains("\"code\":\"shutting_down\"");
            assertThat(log.toString()).contains("shutting down");
        } finally {
            p.destroyForcibly();
        }
    }

    /** Streams a chat completion, collecting its data lines. */
    static void stream(HttpClient http, String url, int tokens, List<String> events) {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Talk.\"}],\"stream\":true,\"ignore_eos\":true,\"max_tokens\":" + tokens + "}";
        try {
            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
                    .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            try (Stream<String> lines = r.body()) {
                lines.filter(l -> l.startsWith("data: ")).forEach(events::add);
            }
        } catch (Exception e) {
            events.add("failed: " + e);
        }
    }
}
