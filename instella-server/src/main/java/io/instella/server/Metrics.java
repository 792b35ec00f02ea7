package io.instella.server;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/** Counters and gauges for {@code GET /metrics}, in the Prometheus text format (version 0.0.4). */
public final class Metrics {
    /** Upper bounds (seconds) of the time-to-first-token histogram buckets. */
    private static final double[] TTFT_BUCKETS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    private static final int RATE_WINDOW_SECONDS = 10;

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> finished = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> imageDecodes = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> bodyFailures = new ConcurrentHashMap<>();
    private final LongAdder imageDecodeMicros = new LongAdder();
    final LongAdder promptTokens = new LongAdder();
    final LongAdder promptTokensCached = new LongAdder();
    final LongAdder generationTokens = new LongAdder();
    final LongAdder decodeSteps = new LongAdder();
    final LongAdder decodeRows = new LongAdder();
    final LongAdder imageCacheHits = new LongAdder();
    final LongAdder imageCacheMisses = new LongAdder();
    private final long[] ttftCounts = new long[TTFT_BUCKETS.length + 1];
    private double ttftSum;
    private final RateWindow promptRate = new RateWindow();
    private final RateWindow generationRate = new RateWindow();
    private record Gauge(String help, LongSupplier value) {}

    private final Map<String, Gauge> gauges = new ConcurrentHashMap<>();

    public void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    /** A choice ended: stop, length, cancelled, timeout or error. */
    public void finished(String reason) {
        finished.computeIfAbsent(reason, k -> new LongAdder()).increment();
    }

    /** An image decode ended: ok, invalid, timeout, or busy (refused: every decode thread taken). */
    public void imageDecode(String result) {
        imageDecodes.computeIfAbsent(result, k -> new LongAdder()).increment();
    }

    /** Time spent in one successful image decode. */
    public void imageDecodeSeconds(double seconds) {
        imageDecodeMicros.add(Math.round(seconds * 1e6));
    }

    /** A request body that could not be read: incomplete (early EOF), malformed (bad chunking), or busy (no buffer). */
    public void bodyFailure(String reason) {
        bodyFailures.computeIfAbsent(reason, k -> new LongAdder()).increment();
    }

    /** Prompt positions computed by the model (the rest came from a reused cache). */
    public void promptComputed(int positions) {
        promptRate.add(positions);
    }

    /** A request's prompt was admitted: all its positions, and how many came from a reused cache. */
    public void promptAdmitted(int positions, int cached) {
        promptTokens.add(positions);
        promptTokensCached.add(cached);
    }

    public void generated(int tokens) {
        generationTokens.add(tokens);
        generationRate.add(tokens);
    }

    public void decodeStep(int rows) {
        decodeSteps.increment();
        decodeRows.add(rows);
    }

    public synchronized void timeToFirstToken(double seconds) {
        int i = 0;
        while (i < TTFT_BUCKETS.length && seconds > TTFT_BUCKETS[i]) i++;
        ttftCounts[i]++;
        ttftSum += seconds;
    }

    /** Registers a gauge read at each scrape. */
    public void gauge(String name, String help, LongSupplier value) {
        gauges.put(name, new Gauge(help, value));
    }

    public long generationTokens() { return generationTokens.sum(); }

    public long promptTokens() { return promptTokens.sum(); }

    public String render() {
        StringBuilder sb = new StringBuilder(4096);
        header(sb, "instella_requests_total", "counter", "HTTP requests by endpoint and status code.");
        Map<String, Long> sorted = new TreeMap<>();
        requests.forEach((k, v) -> sorted.put(k, v.sum()));
        sorted.forEach((k, v) -> {
            String[] parts = k.split("\u0000");
            sb.append("instella_requests_total{endpoint=\"").append(escape(parts[0])).append("\",code=\"").append(parts[1])
                    .append("\"} ").append(v).append('\n');
        });
        header(sb, "instella_completions_finished_total", "counter",
                "Completions (choices) ended, by reason: stop, length, cancelled (client gone), timeout, error, shutdown.");
        new TreeMap<>(finished).forEach((k, v) ->
                sb.append("instella_completions_finished_total{reason=\"").append(escape(k)).append("\"} ").append(v.sum()).append('\n'));
        header(sb, "instella_image_decodes_total", "counter",
                "Image decodes ended, by result: ok, invalid (not a usable image), timeout (over --image-decode-timeout), "
                        + "busy (refused: every decode thread taken).");
        new TreeMap<>(imageDecodes).forEach((k, v) ->
                sb.append("instella_image_decodes_total{result=\"").append(escape(k)).append("\"} ").append(v.sum()).append('\n'));
        header(sb, "instella_image_decode_seconds_total", "counter", "Time spent in successful image decodes.");
        sb.append("instella_image_decode_seconds_total ").append(format(imageDecodeMicros.sum() / 1e6)).append('\n');
        header(sb, "instella_request_body_failures_total", "counter",
                "Request bodies not read, by reason: incomplete (the connection ended early, which is also how Jetty reports "
                        + "most broken chunked encodings), malformed (other bad framing), busy (the request-buffer budget was taken).");
        new TreeMap<>(bodyFailures).forEach((k, v) ->
                sb.append("instella_request_body_failures_total{reason=\"").append(escape(k)).append("\"} ").append(v.sum()).append('\n'));
        counter(sb, "instella_prompt_tokens_total", "Prompt positions of admitted requests (text and image tokens, once per choice).", promptTokens.sum());
        counter(sb, "instella_prompt_tokens_cached_total", "Prompt positions taken from a reused KV cache instead of computed.", promptTokensCached.sum());
        counter(sb, "instella_generation_tokens_total", "Tokens generated.", generationTokens.sum());
        gaugeLine(sb, "instella_prompt_tokens_per_second", "Prompt positions computed per second over the last " + RATE_WINDOW_SECONDS + " s.",
                promptRate.perSecond());
        gaugeLine(sb, "instella_generation_tokens_per_second", "Tokens generated per second over the last " + RATE_WINDOW_SECONDS + " s.",
                generationRate.perSecond());
        counter(sb, "instella_decode_steps_total", "Batched decode steps run.", decodeSteps.sum());
        counter(sb, "instella_decode_rows_total", "Sequences advanced by decode steps (rows / steps = mean batch size).", decodeRows.sum());
        counter(sb, "instella_image_cache_hits_total", "Images found already encoded (same bytes).", imageCacheHits.sum());
        counter(sb, "instella_image_cache_misses_total", "Images encoded by the vision tower.", imageCacheMisses.sum());
        new TreeMap<>(gauges).forEach((name, g) -> {
            header(sb, name, "gauge", g.help());
            sb.append(name).append(' ').append(g.value().getAsLong()).append('\n');
        });
        synchronized (this) {
            header(sb, "instella_time_to_first_token_seconds", "histogram", "From request arrival to the first generated token.");
            long cumulative = 0;
            for (int i = 0; i < TTFT_BUCKETS.length; i++) {
                cumulative += ttftCounts[i];
                sb.append("instella_time_to_first_token_seconds_bucket{le=\"").append(TTFT_BUCKETS[i]).append("\"} ").append(cumulative).append('\n');
            }
            cumulative += ttftCounts[TTFT_BUCKETS.length];
            sb.append("instella_time_to_first_token_seconds_bucket{le=\"+Inf\"} ").append(cumulative).append('\n');
            sb.append("instella_time_to_first_token_seconds_sum ").append(format(ttftSum)).append('\n');
            sb.append("instella_time_to_first_token_seconds_count ").append(cumulative).append('\n');
        }
        return sb.toString();
    }

    private static void header(StringBuilder sb, String name, String type, String help) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void counter(StringBuilder sb, String name, String help, long v) {
        header(sb, name, "counter", help);
        sb.append(name).append(' ').append(v).append('\n');
    }

    private static void gaugeLine(StringBuilder sb, String name, String help, double v) {
        header(sb, name, "gauge", help);
        sb.append(name).append(' ').append(format(v)).append('\n');
    }

    private static String format(double v) {
        return String.format(Locale.ROOT, "%.6f", v);
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** Events per second over the last complete seconds, from one-second buckets. */
    static final class RateWindow {
        private final long[] buckets = new long[RATE_WINDOW_SECONDS + 1];
        private final long[] bucketSecond = new long[RATE_WINDOW_SECONDS + 1];

        synchronized void add(long n) {
            long sec = System.nanoTime() / 1_000_000_000L;
            int i = (int) Math.floorMod(sec, (long) buckets.length);
            if (bucketSecond[i] != sec) {
                bucketSecond[i] = sec;
                buckets[i] = 0;
            }
            buckets[i] += n;
        }

        synchronized double perSecond() {
            long now = System.nanoTime() / 1_000_000_000L;
            long total = 0;
            for (int i = 0; i < buckets.length; i++) {
                long age = now - bucketSecond[i];
                if (age >= 1 && age <= RATE_WINDOW_SECONDS) total += buckets[i];
            }
            return total / (double) RATE_WINDOW_SECONDS;
        }
    }
}
