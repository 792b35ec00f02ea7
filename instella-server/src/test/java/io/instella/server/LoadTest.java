package io.instella.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Load on loopback, bounded in time: 8 streaming clients at once, and the aggregate throughput for 1, 2,
 * 4 and 8 concurrent requests. The suite runs a short variant; the full one (2 minutes of load, longer
 * benchmark rounds) is
 * {@code mvn -pl instella-server -am test -Dtest=LoadTest -Dinstella.load.seconds=120 -Dinstella.bench.seconds=20 -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class LoadTest {
    static final int LOAD_SECONDS = Integer.getInteger("instella.load.seconds", 20);
    static final int BENCH_SECONDS = Integer.getInteger("instella.bench.seconds", 3);
    static final int MAX_REQUESTS_PER_CLIENT = 100_000;

    /** What one streamed request came back with. */
    record Outcome(boolean ok, String error, int promptTokens, int completionTokens, int contentChunks) {}

    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    static Outcome streamOnce(InstellaServer s, String body) {
        try {
            HttpResponse<Stream<String>> r = HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/chat/completions"))
                    .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                try (Stream<String> lines = r.body()) {
                    return new Outcome(false, r.statusCode() + " " + String.join("", lines.toList()), 0, 0, 0);
                }
            }
            int prompt = -1, completion = -1, chunks = 0;
            boolean done = false, finished = false;
            try (Stream<String> lines = r.body()) {
                for (String line : (Iterable<String>) lines::iterator) {
                    if (!line.startsWith("data: ")) continue;
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        done = true;
                        continue;
                    }
                    JsonNode j = TestServers.JSON.readTree(data);
                    if (j.has("error")) return new Outcome(false, data, 0, 0, 0);
                    JsonNode u = j.get("usage");
                    if (u != null && !u.isNull()) {
                        prompt = u.get("prompt_tokens").asInt();
                        completion = u.get("completion_tokens").asInt();
                    }
                    for (JsonNode c : j.get("choices")) {
                        if (c.path("delta").has("content") && !c.path("delta").get("content").asText().isEmpty()) chunks++;
                        if (!c.path("finish_reason").isNull()) finished = true;
                    }
                }
            }
            if (!done || !finished || prompt < 0) return new Outcome(false, "incomplete stream", 0, 0, 0);
            return new Outcome(true, null, prompt, completion, chunks);
        } catch (Exception e) {
            return new Outcome(false, e.toString(), 0, 0, 0);
        }
    }

    static String body(String text, int maxTokens, double temperature, long seed, boolean ignoreEos, String imageUrl) {
        ObjectNode o = TestServers.JSON.createObjectNode();
        ObjectNode user = o.putArray("messages").addObject().put("role", "user");
        if (imageUrl == null) {
            user.put("content", text);
        } else {
            var parts = user.putArray("content");
            parts.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrl);
            parts.addObject().put("type", "text").put("text", text);
        }
        o.put("max_tokens", maxTokens).put("temperature", temperature).put("seed", seed).put("ignore_eos", ignoreEos)
                .put("stream", true).putObject("stream_options").put("include_usage", true);
        return o.toString();
    }

    static long usedHeapAfterGc() {
        for (int i = 0; i < 3; i++) System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @Test
    void eightStreamingClientsNoFailuresBoundedMemoryAllTokensCounted() throws Exception {
        String image = TestServers.dataUrl("sq336");
        long idleKvLimit = 64L << 20;
        try (InstellaServer s = TestServers.start(TestServers.options().parallel(8).queueSize(8).prefixCacheBytes(idleKvLimit)
                .imageCacheBytes(16L << 20).build());
             ExecutorService clients = Executors.newFixedThreadPool(8)) {
            streamOnce(s, body("warm up", 8, 0, 0, true, image)); // JIT and the image cache, outside the measurement
            long heapBefore = usedHeapAfterGc();
            double tokensBefore = TestServers.metric(s, "instella_generation_tokens_total");
            double promptBefore = TestServers.metric(s, "instella_prompt_tokens_total");
            long end = System.nanoTime() + Duration.ofSeconds(LOAD_SECONDS).toNanos();
            AtomicLong completion = new AtomicLong(), prompt = new AtomicLong(), requests = new AtomicLong(), chunks = new AtomicLong();
            List<Future<List<String>>> results = new ArrayList<>();
            for (int c = 0; c < 8; c++) {
                final int client = c;
                results.add(clients.submit(() -> {
                    List<String> failures = new ArrayList<>();
                    java.util.Random rnd = new java.util.Random(client);
                    for (int i = 0; i < MAX_REQUESTS_PER_CLIENT && System.nanoTime() < end; i++) {
                        // a mix: short and long answers, greedy and sampled, some with an image, some stopping at EOS
                        String img = client == 0 && i % 3 == 0 ? image : null;
                        Outcome o = streamOnce(s, body("Client " + client + " request " + i + ": tell me something.",
                                16 + rnd.nextInt(150), rnd.nextBoolean() ? 0 : 0.8, rnd.nextLong(), rnd.nextInt(4) != 0, img));
                        requests.incrementAndGet();
                        if (!o.ok()) {
                            failures.add(o.error());
                            continue;
                        }
                        completion.addAndGet(o.completionTokens());
                        prompt.addAndGet(o.promptTokens());
                        chunks.addAndGet(o.contentChunks());
                    }
                    return failures;
                }));
            }
            List<String> failures = new ArrayList<>();
            for (Future<List<String>> f : results) failures.addAll(f.get());
            double seconds = LOAD_SECONDS;
            long heapAfter = usedHeapAfterGc();
            System.out.printf(Locale.ROOT, "load: %d s, 8 streaming clients, %d requests, %d failed, %d completion tokens "
                            + "(%.1f tok/s aggregate), heap %d -> %d MiB, idle KV %d MiB%n", LOAD_SECONDS, requests.get(),
                    failures.size(), completion.get(), completion.get() / seconds, heapBefore >> 20, heapAfter >> 20,
                    (long) TestServers.metric(s, "instella_kv_cache_idle_bytes") >> 20);
            assertThat(failures).as("failed requests").isEmpty();
            assertThat(requests.get()).isGreaterThan(8);
            assertThat(chunks.get()).isPositive();
            // every token the clients were told about is in /metrics, and nothing else
            assertThat(TestServers.metric(s, "instella_generation_tokens_total") - tokensBefore).isEqualTo(completion.get());
            assertThat(TestServers.metric(s, "instella_prompt_tokens_total") - promptBefore).isEqualTo(prompt.get());
            assertThat(TestServers.metric(s, "instella_requests_running")).isZero();
            assertThat(TestServers.metric(s, "instella_kv_cache_active_bytes")).isZero();
            assertThat(TestServers.metric(s, "instella_kv_cache_idle_bytes")).isLessThanOrEqualTo(idleKvLimit);
            assertThat(heapAfter - heapBefore).as("heap growth over the run").isLessThan(idleKvLimit + (96L << 20));
        }
    }

    /**
     * A benchmark, not a unit test: timings on a shared 2-core machine are too noisy to gate CI on, so it runs only
     * when asked for ({@code -Dinstella.bench.seconds=20}). That batching happens at all is checked structurally in
     * {@code SchedulingTest} (mean batch size of concurrent requests).
     */
    @Test
    @org.junit.jupiter.api.condition.EnabledIfSystemProperty(named = "instella.bench.seconds", matches = "\\d+")
    void batchingRaisesAggregateThroughput() throws Exception {
        int[] levels = {1, 2, 4, 8};
        double[] tps = new double[levels.length];
        try (InstellaServer s = TestServers.start(TestServers.options().parallel(8).prefixCacheBytes(0).build());
             ExecutorService clients = Executors.newFixedThreadPool(8)) {
            streamOnce(s, body("warm up", 64, 0, 0, true, null));
            for (int l = 0; l < levels.length; l++) {
                int concurrency = levels[l];
                long start = System.nanoTime();
                long end = start + Duration.ofSeconds(BENCH_SECONDS).toNanos();
                AtomicLong tokens = new AtomicLong();
                List<Future<?>> fs = new ArrayList<>();
                for (int c = 0; c < concurrency; c++) {
                    final int client = c;
                    fs.add(clients.submit(() -> {
                        for (int i = 0; System.nanoTime() < end; i++) {
                            Outcome o = streamOnce(s, body("Benchmark " + client + "/" + i, 64, 0, 0, true, null));
                            assertThat(o.ok()).as(o.error()).isTrue();
                            tokens.addAndGet(o.completionTokens());
                        }
                    }));
                }
                for (Future<?> f : fs) f.get();
                tps[l] = tokens.get() / ((System.nanoTime() - start) / 1e9);
            }
        }
        StringBuilder table = new StringBuilder("aggregate decode throughput (tokens/s), 64-token completions:");
        for (int l = 0; l < levels.length; l++) table.append(String.format(Locale.ROOT, "  %d concurrent: %.1f", levels[l], tps[l]));
        System.out.println(table);
        assertThat(tps[2]).as(table.toString()).isGreaterThan(1.3 * tps[0]);
        assertThat(tps[3]).as(table.toString()).isGreaterThan(1.3 * tps[0]);
    }
}
