package io.instella.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * http(s) image URLs only from allow-listed hosts, without redirects, within size and time limits
 * (served here by a loopback HTTP server); CORS only for the configured origins.
 */
class ImageUrlAndCorsTest {
    static HttpServer images;
    static InstellaServer server;
    static String base;

    @BeforeAll
    static void start() throws Exception {
        byte[] png = Files.readAllBytes(Golden.resolve("images/sq336.png"));
        images = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        images.createContext("/sq336.png", ex -> {
            ex.getResponseHeaders().add("Content-Type", "image/png");
            ex.sendResponseHeaders(200, png.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(png);
            }
        });
        images.createContext("/big.png", ex -> {
            ex.sendResponseHeaders(200, 0); // chunked, no declared length
            try (OutputStream o = ex.getResponseBody()) {
                for (int i = 0; i < 3; i++) o.write(new byte[1 << 20]);
            } catch (java.io.IOException ignored) {
                // the server stops reading at its limit
            }
        });
        images.createContext("/slow.png", ex -> {
            try {
                Thread.sleep(3000);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            ex.sendResponseHeaders(200, png.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(png);
            } catch (java.io.IOException ignored) {
                // the client gave up
            }
        });
        images.createContext("/redirect.png", ex -> {
            ex.getResponseHeaders().add("Location", "http://169.254.169.254/latest/meta-data");
            ex.sendResponseHeaders(302, -1);
            ex.close();
        });
        images.start();
        base = "http://127.0.0.1:" + images.getAddress().getPort();
        server = TestServers.start(TestServers.options().imageUrlHosts(List.of("127.0.0.1")).imageUrlMaxBytes(1 << 20)
                .imageUrlTimeout(Duration.ofMillis(800)).corsOrigins(List.of("http://app.example")).build());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (images != null) images.stop(0);
    }

    static HttpResponse<String> withImage(String url) throws Exception {
        ObjectNode o = TestServers.JSON.createObjectNode();
        var content = o.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", url);
        content.addObject().put("type", "text").put("text", "What is it?");
        o.put("max_tokens", 2);
        return TestServers.post(server, "/v1/chat/completions", o.toString());
    }

    static String code(HttpResponse<String> r) throws Exception {
        return TestServers.json(r).at("/error/code").asText();
    }

    @Test
    void anAllowedHostsImageIsFetched() throws Exception {
        HttpResponse<String> r = withImage(base + "/sq336.png");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(TestServers.json(r).at("/usage/prompt_tokens").asInt()).isGreaterThan(1100);
    }

    @Test
    void otherHostsRedirectsLargeAndSlowImagesAreRefused() throws Exception {
        HttpResponse<String> other = withImage(base.replace("127.0.0.1", "localhost") + "/sq336.png");
        assertThat(other.statusCode()).isEqualTo(400);
        assertThat(code(other)).isEqualTo("image_url_not_allowed");
        HttpResponse<String> redirect = withImage(base + "/redirect.png");
        assertThat(redirect.statusCode()).isEqualTo(400);
        assertThat(TestServers.json(redirect).at("/error/message").asText()).contains("302").contains("redirects are not followed");
        HttpResponse<String> big = withImage(base + "/big.png");
        assertThat(big.statusCode()).isEqualTo(400);
        assertThat(code(big)).isEqualTo("image_too_large");
        long t0 = System.nanoTime();
        HttpResponse<String> slow = withImage(base + "/slow.png");
        assertThat(slow.statusCode()).isEqualTo(400);
        assertThat(code(slow)).isEqualTo("image_url_timeout");
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(2.5);
    }

    @Test
    void corsForTheConfiguredOriginOnly() throws Exception {
        HttpResponse<String> ok = TestServers.get(server, "/v1/models", "Origin", "http://app.example");
        assertThat(ok.headers().firstValue("access-control-allow-origin")).contains("http://app.example");
        HttpResponse<String> other = TestServers.get(server, "/v1/models", "Origin", "http://evil.example");
        assertThat(other.headers().firstValue("access-control-allow-origin")).isEmpty();
        HttpRequest preflight = HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "http://app.example")
                .header("Access-Control-Request-Method", "POST").header("Access-Control-Request-Headers", "authorization, content-type").build();
        HttpResponse<String> p = TestServers.HTTP.send(preflight, HttpResponse.BodyHandlers.ofString());
        assertThat(p.statusCode()).isEqualTo(204);
        assertThat(p.headers().firstValue("access-control-allow-methods").orElse("")).contains("POST");
        assertThat(p.headers().firstValue("access-control-allow-headers").orElse("")).containsIgnoringCase("authorization");
    }
}
