package io.instella.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.RgbImage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Malformed HTTP and costly images: a broken chunked body, a body shorter than its Content-Length, a garbage request
 * line, a decode that runs too long, a full decode pool, many large bodies at once, a JSON body with millions of
 * tokens. Each ends in a 4xx/503 (never 500), nothing above INFO in the log, and the server keeps serving.
 */
class HostileHttpTest {
    /** A decoder the tests steer: slow (interruptible), stuck (ignores interrupts), or refusing. */
    static volatile String mode = "refuse";
    static final CountDownLatch[] stuckRelease = {new CountDownLatch(0)};
    static final AtomicBoolean sawInterrupt = new AtomicBoolean();

    static InstellaServer server;
    static final List<LogRecord> logged = new ArrayList<>();
    static final Handler capture = new Handler() {
        @Override public void publish(LogRecord r) { synchronized (logged) { logged.add(r); } }
        @Override public void flush() {}
        @Override public void close() {}
    };

    static RgbImage decode(byte[] bytes, String name) {
        switch (mode) {
            case "slow" -> {
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    sawInterrupt.set(true);
                    throw new ImageDecodeException(name, "decoding was cancelled");
                }
            }
            case "stuck" -> {
                // A decoder that does not look at its interrupt: it ends only when the test lets it.
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (stuckRelease[0].getCount() > 0 && System.nanoTime() < until) Thread.onSpinWait();
            }
            case "oom" -> throw new OutOfMemoryError("Java heap space");
            case "bug" -> throw new ClassCastException("class java.io.EOFException cannot be cast to class java.lang.Number");
            default -> { }
        }
        throw new ImageDecodeException(name, "not an image this test decoder knows");
    }

    @BeforeAll
    static void start() throws Exception {
        Logger.getLogger("").addHandler(capture);
        server = InstellaServer.start(TestServers.model(), TestServers.options().parallel(2).maxBodyBytes(1 << 20)
                .requestBufferBytes(1 << 20).imageDecodeThreads(1).imageDecodeQueue(0)
                .imageDecodeTimeout(Duration.ofMillis(500)).build(), HostileHttpTest::decode);
    }

    @AfterAll
    static void stop() {
        Logger.getLogger("").removeHandler(capture);
        if (server != null) server.close();
    }

    @BeforeEach
    void clearLog() {
        synchronized (logged) { logged.clear(); }
        mode = "refuse";
    }

    @AfterEach
    void nothingWorseThanInfoWasLogged() {
        synchronized (logged) {
            assertThat(logged).as("log records above INFO").noneMatch(r -> r.getLevel().intValue() > Level.INFO.intValue());
            assertThat(logged).as("log records with a stack").noneMatch(r -> r.getThrown() != null);
        }
    }

    @Test
    void aMalformedChunkedBodyGets400NotA500() throws Exception {
        String reply = raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", false);
        assertThat(reply).startsWith("HTTP/1.1 400").contains("\"code\":\"bad_request_body\"").doesNotContain("Exception");
        assertStillServing();
    }

    @Test
    void aBodyShorterThanItsContentLengthThenCloseIsNotA500() throws Exception {
        double before = TestServers.metric(server, "instella_request_body_failures_total{reason=\"incomplete\"}");
        String reply = raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 100\r\n\r\n{\"messages\"", true);
        // The client closed its side: the 400 may or may not reach it, but it is never a 500.
        assertThat(reply).doesNotContain(" 500 ").doesNotContain("Exception");
        if (!reply.isEmpty()) assertThat(reply).startsWith("HTTP/1.1 400");
        assertThat(TestServers.metric(server, "instella_request_body_failures_total{reason=\"incomplete\"}")).isEqualTo(before + 1);
        assertThat(TestServers.metric(server, "instella_requests_total{endpoint=\"/v1/chat/completions\",code=\"500\"}")).isZero();
        assertStillServing();
    }

    @Test
    void aTruncatedChunkedBodyThenCloseIsNotA500() throws Exception {
        String reply = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"prom", true);
        assertThat(reply).doesNotContain(" 500 ");
        assertStillServing();
    }

    @Test
    void garbageRequestLinesGetAJson400() throws Exception {
        for (String garbage : List.of("GARBAGE\r\n\r\n", "GET /\u0001 HTTP/1.1\r\nHost: x\r\n\r\n",
                "POST /v1/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")) {
            String reply = raw(garbage, false);
            assertThat(reply).as(garbage).startsWith("HTTP/1.1 400").contains("\"code\":\"bad_http_request\"")
                    .doesNotContain("<html").doesNotContain("Exception");
        }
        assertStillServing();
    }

    @Test
    void aSlowDecodeGets400WithinTheLimitAndItsThreadIsFreed() throws Exception {
        mode = "slow";
        sawInterrupt.set(false);
        long start = System.nanoTime();
        HttpResponse<String> r = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> chatWithImage(1));
        double seconds = (System.nanoTime() - start) / 1e9;
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        JsonNode err = TestServers.json(r).get("error");
        assertThat(err.get("code").asText()).isEqualTo("image_decode_timeout");
        assertThat(err.get("param").asText()).isEqualTo("messages[0].content[0].image_url");
        assertThat(err.get("message").asText()).contains("500 ms").contains("--image-decode-timeout");
        assertThat(seconds).isLessThan(5);
        // The decode thread was interrupted and is free again: the next image is decoded (and refused) at once.
        waitFor(() -> sawInterrupt.get() && metric("instella_images_decoding") == 0);
        mode = "refuse";
        HttpResponse<String> next = chatWithImage(2);
        assertThat(TestServers.json(next).at("/error/code").asText()).isEqualTo("invalid_image");
        assertThat(metric("instella_image_decodes_total{result=\"timeout\"}")).isGreaterThanOrEqualTo(1);
    }

    @Test
    void aStuckDecoderFillsThePoolThenNewImagesGet503UntilItEnds() throws Exception {
        mode = "stuck";
        stuckRelease[0] = new CountDownLatch(1);
        try {
            HttpResponse<String> first = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> chatWithImage(3));
            assertThat(TestServers.json(first).at("/error/code").asText()).isEqualTo("image_decode_timeout");
            assertThat(metric("instella_image_decodes_abandoned")).isEqualTo(1);
            assertThat(metric("instella_images_decoding")).isEqualTo(1);
            // One decode thread, no queue, and it is still taken: the next image is refused at once.
            long start = System.nanoTime();
            HttpResponse<String> busy = chatWithImage(4);
            assertThat(busy.statusCode()).as(busy.body()).isEqualTo(503);
            assertThat(busy.headers().firstValue("Retry-After")).hasValue("1");
            assertThat(TestServers.json(busy).at("/error/code").asText()).isEqualTo("image_decoders_busy");
            assertThat((System.nanoTime() - start) / 1e9).isLessThan(2);
            // Text requests do not need the decode pool.
            assertStillServing();
        } finally {
            stuckRelease[0].countDown();
        }
        waitFor(() -> metric("instella_images_decoding") == 0 && metric("instella_image_decodes_abandoned") == 0);
        mode = "refuse";
        assertThat(TestServers.json(chatWithImage(5)).at("/error/code").asText()).isEqualTo("invalid_image");
    }

    @Test
    void aDecoderThatRunsOutOfMemoryOrFailsGets400WithoutJdkNames() throws Exception {
        for (String m : List.of("oom", "bug")) {
            mode = m;
            HttpResponse<String> r = chatWithImage(10 + m.length());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            JsonNode err = TestServers.json(r).get("error");
            assertThat(err.get("code").asText()).isEqualTo("invalid_image");
            assertThat(err.get("message").asText()).startsWith("not a usable image").doesNotContain("java.")
                    .doesNotContain("Error").doesNotContain("Exception");
        }
        // One line each in the log, without a stack; then nothing else.
        synchronized (logged) {
            assertThat(logged).hasSize(2).allMatch(rec -> rec.getLevel() == Level.WARNING && rec.getThrown() == null);
            logged.clear();
        }
        assertStillServing();
    }

    @Test
    void largeBodiesBeyondTheBufferBudgetGet503() throws Exception {
        // A client sends 800 KB of a 900 KB body and stalls: it holds most of the 1 MiB budget.
        try (Socket slow = new Socket("127.0.0.1", server.port())) {
            OutputStream out = slow.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 900000\r\n\r\n{\"messages\":[{\"role\":\"user\",\"content\":\"").getBytes(StandardCharsets.US_ASCII));
            out.write("a".repeat(820_000).getBytes(StandardCharsets.US_ASCII));
            out.flush();
            waitFor(() -> metric("instella_request_buffer_bytes") > 800_000);
            String big = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "a".repeat(600_000) + "\"}]}";
            HttpResponse<String> r = TestServers.post(server, "/v1/chat/completions", big);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
            assertThat(TestServers.json(r).at("/error/code").asText()).isEqualTo("server_busy");
        }
        waitFor(() -> metric("instella_request_buffer_bytes") == 0);
        assertStillServing();
    }

    @Test
    void aBodyOfMillionsOfJsonTokensIsRefusedWithoutBuildingThem() throws Exception {
        String many = "{\"messages\":[" + "{},".repeat(300_000) + "{}]}";
        HttpResponse<String> r = TestServers.post(server, "/v1/chat/completions", many);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(TestServers.json(r).at("/error/code").asText()).isEqualTo("invalid_json");
        String deep = "[".repeat(100_000);
        HttpResponse<String> d = TestServers.post(server, "/v1/chat/completions", deep);
        assertThat(d.statusCode()).isEqualTo(400);
        assertStillServing();
    }

    // ---- helpers

    static HttpResponse<String> chatWithImage(int seed) throws Exception {
        String data = Base64.getEncoder().encodeToString(("image " + seed).getBytes(StandardCharsets.US_ASCII));
        return TestServers.post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," + data + "\"}},"
                + "{\"type\":\"text\",\"text\":\"What is it?\"}]}],\"max_tokens\":1}");
    }

    static void assertStillServing() throws Exception {
        HttpResponse<String> r = TestServers.post(server, "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }

    static double metric(String sample) {
        try {
            return TestServers.metric(server, sample);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    interface Condition { boolean holds() throws Exception; }

    static void waitFor(Condition c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!c.holds()) {
            if (System.nanoTime() > deadline) throw new AssertionError("condition not reached within 10 s");
            Thread.sleep(20);
        }
    }

    /** Sends raw bytes, optionally half-closes, and reads what comes back until the server closes or 5 s pass. */
    static String raw(String request, boolean closeOutput) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(5000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            if (closeOutput) s.shutdownOutput();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            byte[] b = new byte[4096];
            try {
                for (int n; (n = in.read(b)) > 0; ) got.write(b, 0, n);
            } catch (SocketTimeoutException | java.net.SocketException ended) {
                // what arrived is what we judge
            }
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }
}
