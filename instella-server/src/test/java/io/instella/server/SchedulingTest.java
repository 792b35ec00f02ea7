package io.instella.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;

/** Continuous batching, the bounded queue, cancellation on disconnect, timeouts and the caches. */
class SchedulingTest {

    /** Client threads of their own (the common pool may have a single thread on a small machine). */
    static final ExecutorService CLIENTS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "test-client");
        t.setDaemon(true);
        return t;
    });

    static String chatBody(String text, int maxTokens, boolean stream) {
        ObjectNode o = TestServers.JSON.createObjectNode();
        o.putArray("messages").addObject().put("role", "user").put("content", text);
        o.put("max_tokens", maxTokens).put("temperature", 0).put("ignore_eos", true).put("stream", stream);
        return o.toString();
    }

    static String answer(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return TestServers.json(r).at("/choices/0/message/content").asText();
    }

    @Test
    void concurrentRequestsDecodeTogetherAndGiveTheirSoloAnswers() throws Exception {
        List<String> prompts = List.of("Tell me about cats.", "Why is the sky blue?", "List three colours.", "What is two plus two?");
        try (InstellaServer s = TestServers.start(TestServers.options().parallel(4).build());
             ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<String> solo = new ArrayList<>();
            for (String p : prompts) solo.add(answer(TestServers.post(s, "/v1/chat/completions", chatBody(p, 40, false))));
            double stepsBefore = TestServers.metric(s, "instella_decode_steps_total");
            double rowsBefore = TestServers.metric(s, "instella_decode_rows_total");
            List<Future<String>> together = new ArrayList<>();
            for (String p : prompts) together.add(pool.submit(() -> answer(TestServers.post(s, "/v1/chat/completions", chatBody(p, 40, false)))));
            for (int i = 0; i < prompts.size(); i++) assertThat(together.get(i).get()).as(prompts.get(i)).isEqualTo(solo.get(i));
            double steps = TestServers.metric(s, "instella_decode_steps_total") - stepsBefore;
            double rows = TestServers.metric(s, "instella_decode_rows_total") - rowsBefore;
            assertThat(rows).isEqualTo(4 * 39); // 40 tokens each: the first from the prefill
            assertThat(rows / steps).as("mean batch size").isGreaterThan(1.5);
        }
    }

    @Test
    void aNewRequestJoinsARunningBatchAndLeavesFirst() throws Exception {
        try (InstellaServer s = TestServers.start(TestServers.options().parallel(4).build())) {
            CompletableFuture<HttpResponse<String>> longOne = CompletableFuture.supplyAsync(() -> {
                try {
                    return TestServers.post(s, "/v1/chat/completions", chatBody("A long story please.", 600, false));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, CLIENTS);
            while (TestServers.metric(s, "instella_generation_tokens_total") < 20) Thread.sleep(5);
            HttpResponse<String> shortOne = TestServers.post(s, "/v1/chat/completions", chatBody("Short.", 5, false));
            assertThat(answer(shortOne)).isNotEmpty();
            assertThat(longOne).as("the long request is still decoding when the short one is done").isNotDone();
            assertThat(TestServers.json(longOne.get()).at("/usage/completion_tokens").asInt()).isEqualTo(600);
        }
    }

    @Test
    void aFullQueueAnswers429() throws Exception {
        try (InstellaServer s = TestServers.start(TestServers.options().parallel(1).queueSize(1).build())) {
            List<CompletableFuture<HttpResponse<String>>> running = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                running.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return TestServers.post(s, "/v1/chat/completions", chatBody("Go on and on.", 400, false));
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }, CLIENTS));
            }
            while (TestServers.metric(s, "instella_requests_waiting") < 1) Thread.sleep(5);
            HttpResponse<String> refused = TestServers.post(s, "/v1/chat/completions", chatBody("me too", 2, false));
            assertThat(refused.statusCode()).isEqualTo(429);
            assertThat(refused.headers().firstValue("retry-after")).isPresent();
            assertThat(TestServers.json(refused).at("/error/code").asText()).isEqualTo("queue_full");
            for (var f : running) assertThat(f.get().statusCode()).isEqualTo(200);
            assertThat(TestServers.post(s, "/v1/chat/completions", chatBody("now?", 2, false)).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void aClientThatDisconnectsIsCancelledAndItsCacheFreed() throws Exception {
        try (InstellaServer s = TestServers.start(TestServers.options().build())) {
            // streamed: the next write fails
            try (Socket sock = rawRequest(s, chatBody("Keep talking.", 3000, true))) {
                BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.UTF_8));
                int events = 0;
                for (String line; events < 5 && (line = in.readLine()) != null; ) if (line.startsWith("data: ")) events++;
                assertThat(events).isEqualTo(5);
            }
            awaitMetric(s, "instella_completions_finished_total{reason=\"cancelled\"}", 1);
            // whole answer: Jetty reports the closed connection
            try (Socket sock = rawRequest(s, chatBody("Keep talking.", 3000, false))) {
                while (TestServers.metric(s, "instella_sequences_running") < 1) Thread.sleep(5);
            }
            awaitMetric(s, "instella_completions_finished_total{reason=\"cancelled\"}", 2);
            awaitMetric(s, "instella_sequences_running", 0);
            assertThat(TestServers.metric(s, "instella_kv_cache_active_bytes")).isZero();
            assertThat(TestServers.metric(s, "instella_generation_tokens_total")).isLessThan(3000);
            assertThat(TestServers.post(s, "/v1/chat/completions", chatBody("still there?", 2, false)).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void aRequestOverItsTimeIsCancelledWith504() throws Exception {
        try (InstellaServer s = TestServers.start(TestServers.options().requestTimeout(Duration.ofMillis(700)).build())) {
            HttpResponse<String> r = TestServers.post(s, "/v1/chat/completions", chatBody("Forever.", 4000, false));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(504);
            assertThat(TestServers.json(r).at("/error/code").asText()).isEqualTo("request_timeout");
            HttpResponse<String> st = TestServers.post(s, "/v1/chat/completions", chatBody("Forever.", 4000, true));
            assertThat(st.statusCode()).isEqualTo(200);
            List<String> data = st.body().lines().filter(l -> l.startsWith("data: ")).toList();
            assertThat(data.get(data.size() - 2)).contains("\"request_timeout\"");
            assertThat(data.getLast()).isEqualTo("data: [DONE]");
            assertThat(TestServers.metric(s, "instella_completions_finished_total{reason=\"timeout\"}")).isEqualTo(2);
            assertThat(TestServers.metric(s, "instella_kv_cache_active_bytes")).isZero();
        }
    }

    @Test
    void aContinuedConversationReusesItsCacheAndImagesAreEncodedOnce() throws Exception {
        try (InstellaServer s = TestServers.start(TestServers.options().build())) {
            String image = TestServers.dataUrl("land640x480");
            ObjectNode first = TestServers.JSON.createObjectNode();
            ArrayNode messages = first.putArray("messages");
            ObjectNode user = messages.addObject().put("role", "user");
            user.putArray("content").add(TestServers.JSON.createObjectNode().put("type", "image_url")
                            .set("image_url", TestServers.JSON.createObjectNode().put("url", image)))
                    .add(TestServers.JSON.createObjectNode().put("type", "text").put("text", "What shapes are there?"));
            first.put("max_tokens", 8).put("temperature", 0);
            JsonNode r1 = TestServers.json(TestServers.post(s, "/v1/chat/completions", first.toString()));
            int prompt1 = r1.at("/usage/prompt_tokens").asInt();
            int imageTokens = TestServers.JSON.readTree(io.instella.core.testing.Golden.resolve("images/land640x480.json").toFile())
                    .get("num_image_tokens").asInt();
            assertThat(prompt1).isGreaterThan(imageTokens + 10);
            assertThat(r1.at("/usage/prompt_tokens_details/cached_tokens").asInt()).isZero();
            messages.addObject().put("role", "assistant").put("content", r1.at("/choices/0/message/content").asText());
            messages.addObject().put("role", "user").put("content", "And their colours?");
            JsonNode r2 = TestServers.json(TestServers.post(s, "/v1/chat/completions", first.toString()));
            assertThat(r2.at("/usage/prompt_tokens").asInt()).isGreaterThan(prompt1);
            assertThat(r2.at("/usage/prompt_tokens_details/cached_tokens").asInt()).isGreaterThanOrEqualTo(prompt1);
            assertThat(TestServers.metric(s, "instella_image_cache_misses_total")).isEqualTo(1);
            assertThat(TestServers.metric(s, "instella_image_cache_hits_total")).isEqualTo(1);
            assertThat(TestServers.metric(s, "instella_prompt_tokens_cached_total")).isGreaterThanOrEqualTo(prompt1);
        }
    }

    static Socket rawRequest(InstellaServer s, String body) throws Exception {
        Socket sock = new Socket("127.0.0.1", s.port());
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = sock.getOutputStream();
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        return sock;
    }

    static void awaitMetric(InstellaServer s, String sample, double value) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        double v;
        while ((v = TestServers.metric(s, sample)) != value) {
            if (System.nanoTime() > deadline) throw new AssertionError(sample + " is " + v + ", expected " + value);
            Thread.sleep(10);
        }
    }
}
