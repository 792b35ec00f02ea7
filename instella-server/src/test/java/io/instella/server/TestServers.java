package io.instella.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Shared pieces of the server tests: the golden set's tiny random model (real structure, real tokenizer),
 * loaded once per test JVM, and servers on a free loopback port.
 */
final class TestServers {
    static final ObjectMapper JSON = new ObjectMapper();
    private static InstellaVL model;

    private TestServers() {}

    static synchronized InstellaVL model() {
        if (model == null) model = InstellaVL.load(Golden.resolve("model"));
        return model;
    }

    static ServerOptions.Builder options() {
        return ServerOptions.builder().host("127.0.0.1").port(0).modelName("instella-test").parallel(4).contextLength(4096)
                .shutdownGrace(Duration.ofSeconds(5));
    }

    static InstellaServer start(ServerOptions options) throws Exception {
        return InstellaServer.start(model(), options);
    }

    static String dataUrl(String goldenImage) throws IOException {
        Path p = Golden.resolve("images/" + goldenImage + ".png");
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(p));
    }

    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    static HttpResponse<String> post(InstellaServer s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.url() + path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) b.setHeader(headers[i], headers[i + 1]);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(InstellaServer s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(s.url() + path)).timeout(Duration.ofSeconds(30)).GET();
        for (int i = 0; i < headers.length; i += 2) b.setHeader(headers[i], headers[i + 1]);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    /** A sample's value from the Prometheus text, e.g. metric("x_total") or metric("x_total{reason=\"stop\"}"); 0 if absent. */
    static double metric(InstellaServer s, String sample) throws Exception {
        String text = get(s, "/metrics", "Authorization", "Bearer " + (s.options().apiKey() == null ? "" : s.options().apiKey())).body();
        Matcher m = Pattern.compile("^" + Pattern.quote(sample) + " (\\S+)$", Pattern.MULTILINE).matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }
}
