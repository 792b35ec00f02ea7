package io.instella.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;

/** Bad requests get the right 4xx in OpenAI's error shape, and the server keeps serving. */
class BadRequestTest {
    static final String KEY = "sk-local-secret";
    static InstellaServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(TestServers.options().apiKey(KEY).maxBodyBytes(8L << 20).maxImagePixels(100_000).build());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    static HttpResponse<String> chat(String body) throws Exception {
        return TestServers.post(server, "/v1/chat/completions", body, "Authorization", "Bearer " + KEY);
    }

    static void assertError(HttpResponse<String> r, int status, String param) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("application/json");
        JsonNode e = TestServers.json(r).get("error");
        assertThat(e).as(r.body()).isNotNull();
        assertThat(e.get("message").asText()).isNotBlank();
        assertThat(e.get("type").asText()).isNotBlank();
        assertThat(e.has("param")).isTrue();
        assertThat(e.has("code")).isTrue();
        if (param != null) assertThat(e.get("param").asText()).isEqualTo(param);
    }

    static void assertStillServing() throws Exception {
        HttpResponse<String> ok = chat("{\"messages\":[{\"role\":\"user\",\"content\":\"ok?\"}],\"max_tokens\":2}");
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(TestServers.json(ok).at("/usage/completion_tokens").asInt()).isBetween(1, 2);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "malformed JSON | {\"messages\": [ | ",
            "not an object | [1,2,3] | ",
            "no messages | {\"max_tokens\": 3} | messages",
            "messages not an array | {\"messages\": \"hi\"} | messages",
            "unknown role | {\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]} | messages[0].role",
            "tool role | {\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]} | messages[0].role",
            "role not a string | {\"messages\":[{\"role\":7,\"content\":\"hi\"}]} | messages[0].role",
            "content a number | {\"messages\":[{\"role\":\"user\",\"content\":5}]} | messages[0].content",
            "unknown part | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}]} | messages[0].content[0].type",
            "temperature a string | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":\"hot\"} | temperature",
            "temperature too high | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":7} | temperature",
            "max_tokens zero | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":0} | max_tokens",
            "max_tokens fraction | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2.5} | max_tokens",
            "max_tokens over the context | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":100000} | max_tokens",
            "n too large | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":50} | n",
            "stop a number | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":3} | stop",
            "top_logprobs without logprobs | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_logprobs\":2} | top_logprobs",
            "unknown field | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mirostat_tau\":5} | mirostat_tau",
            "tools | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\"}]} | tools",
            "logit_bias | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logit_bias\":{\"50256\":-100}} | logit_bias",
            "json mode | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}} | response_format",
            "stream_options without stream | {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream_options\":{\"include_usage\":true}} | stream_options",
            "assistant first | {\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"}]} | messages",
            "image in an assistant turn | {\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}]} | messages[1].content[0]",
            "image that is not an image | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,aGVsbG8gd29ybGQ=\"}}]}]} | messages[0].content[0].image_url",
            "bad base64 | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,@@@\"}}]}]} | messages[0].content[0].image_url",
            "not an image media type | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:text/plain;base64,aGk=\"}}]}]} | messages[0].content[0].image_url",
            "remote URL while disabled | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://169.254.169.254/latest\"}}]}]} | messages[0].content[0].image_url",
            "file URL | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"file:///etc/passwd\"}}]}]} | messages[0].content[0].image_url",
            "image detail high | {\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\",\"detail\":\"high\"}}]}]} | messages[0].content[0].image_url.detail",
            "image placeholder in text | {\"messages\":[{\"role\":\"user\",\"content\":\"look: <image>\"}]} | messages",
    })
    void badRequestsGet400(String name, String body, String param) throws Exception {
        assertError(chat(body), 400, param);
        assertStillServing();
    }

    @Test
    void anImageOverThePixelLimit() throws Exception {
        // 400x300 = 120,000 pixels > this server's 100,000
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(400, 300, java.awt.image.BufferedImage.TYPE_INT_RGB);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", png);
        String url = "data:image/png;base64," + Base64.getEncoder().encodeToString(png.toByteArray());
        HttpResponse<String> r = chat("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\""
                + url + "\"}}]}]}");
        assertError(r, 400, "messages[0].content[0].image_url");
        assertThat(TestServers.json(r).at("/error/message").asText()).contains("pixel");
        assertStillServing();
    }

    @Test
    void aFiftyMegabyteBodyGets413() throws Exception {
        byte[] big = new byte[50 << 20];
        Arrays.fill(big, (byte) 'a');
        byte[] prefix = "{\"messages\":[{\"role\":\"user\",\"content\":\"".getBytes(StandardCharsets.UTF_8);
        System.arraycopy(prefix, 0, big, 0, prefix.length);
        HttpRequest req = HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions")).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(big)).build();
        HttpResponse<String> r = TestServers.HTTP.send(req, HttpResponse.BodyHandlers.ofString());
        assertError(r, 413, null);
        assertThat(TestServers.json(r).at("/error/code").asText()).isEqualTo("request_too_large");
        assertStillServing();
    }

    @Test
    void aChunkedBodyOverTheLimitGets413() throws Exception {
        // No Content-Length: the limit is enforced while reading.
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Authorization: Bearer " + KEY + "\r\nTransfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = new byte[1 << 20];
            Arrays.fill(chunk, (byte) ' ');
            try {
                for (int i = 0; i < 12; i++) {
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } catch (java.io.IOException closedEarly) {
                // the server may close after answering; the answer is still readable
            }
            InputStream in = s.getInputStream();
            String head = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
            assertThat(head).isEqualTo("HTTP/1.1 413");
        }
        assertStillServing();
    }

    @Test
    void apiKeyIsRequiredAndChecked() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1}";
        HttpResponse<String> missing = TestServers.post(server, "/v1/chat/completions", body);
        assertError(missing, 401, null);
        assertThat(missing.headers().firstValue("www-authenticate")).contains("Bearer");
        assertError(TestServers.post(server, "/v1/chat/completions", body, "Authorization", "Bearer wrong"), 401, null);
        assertError(TestServers.post(server, "/v1/chat/completions", body, "Authorization", "Bearer " + KEY + "x"), 401, null);
        assertError(TestServers.post(server, "/v1/chat/completions", body, "Authorization", "Basic " + KEY), 401, null);
        assertThat(TestServers.get(server, "/v1/models").statusCode()).isEqualTo(401);
        assertThat(TestServers.get(server, "/metrics").statusCode()).isEqualTo(401);
        // health and the page need no key (the page asks for it)
        assertThat(TestServers.get(server, "/health").statusCode()).isEqualTo(200);
        assertThat(TestServers.get(server, "/").statusCode()).isEqualTo(200);
        assertStillServing();
    }

    @Test
    void wrongMethodPathAndMediaType() throws Exception {
        assertError(TestServers.get(server, "/v1/chat/completions", "Authorization", "Bearer " + KEY), 405, null);
        assertError(TestServers.get(server, "/v2/anything", "Authorization", "Bearer " + KEY), 404, null);
        HttpRequest form = HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions"))
                .header("Content-Type", "application/x-www-form-urlencoded").header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString("messages=hi")).build();
        assertError(TestServers.HTTP.send(form, HttpResponse.BodyHandlers.ofString()), 415, null);
        assertError(chat("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"), 404, "model");
        assertStillServing();
    }

    @Test
    void corsIsOffByDefault() throws Exception {
        HttpResponse<String> r = TestServers.get(server, "/health", "Origin", "http://evil.example");
        assertThat(r.headers().firstValue("access-control-allow-origin")).isEmpty();
        HttpRequest preflight = HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "http://evil.example")
                .header("Access-Control-Request-Method", "POST").build();
        HttpResponse<String> p = TestServers.HTTP.send(preflight, HttpResponse.BodyHandlers.ofString());
        assertThat(p.statusCode()).isEqualTo(405);
        assertThat(p.headers().firstValue("access-control-allow-origin")).isEmpty();
    }
}
