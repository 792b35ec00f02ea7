package io.instella.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Base64;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 14's hostile image files sent through {@code /v1/chat/completions} to a server with the default pixel limit
 * and the real decoders: each is refused with a 400 naming the problem, in seconds, and the server keeps serving.
 */
class HostileImagesHttpTest {
    static InstellaServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(TestServers.options().build());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    static HttpResponse<String> chatWithImage(String mediaType, byte[] image) throws Exception {
        String url = "data:" + mediaType + ";base64," + Base64.getEncoder().encodeToString(image);
        return TestServers.post(server, "/v1/chat/completions", "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url + "\"}},{\"type\":\"text\",\"text\":\"what?\"}]}]}");
    }

    static void assertRefusedWithin(Duration limit, String mediaType, byte[] image, String... words) {
        assertTimeoutPreemptively(limit, () -> {
            HttpResponse<String> r = chatWithImage(mediaType, image);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            String message = TestServers.json(r).at("/error/message").asText();
            assertThat(message).contains(words).doesNotContain("java.").doesNotContain("Exception");
            assertThat(TestServers.json(r).at("/error/param").asText()).isEqualTo("messages[0].content[0].image_url");
        });
    }

    /** 274 bytes: a 17x33 VP8 frame in a VP8X whose canvas claims 4900x4900 (it took 217 s per request before). */
    @Test
    void aWebpCanvasLieIsRefusedAtOnce() throws Exception {
        byte[] lie;
        try (InputStream in = HostileImagesHttpTest.class.getResourceAsStream("/hostile/canvas_lie_4900.webp")) {
            lie = in.readAllBytes();
        }
        assertRefusedWithin(Duration.ofSeconds(5), "image/webp", lie, "4900x4900", "does not match");
        assertStillServing();
    }

    /** A 1.3 KB-class TIFF whose SamplesPerPixel says 2147483647 (an OutOfMemoryError and a 500 before). */
    @Test
    void aTiffWithAbsurdSamplesPerPixelIsRefused() throws Exception {
        assertRefusedWithin(Duration.ofSeconds(5), "image/tiff", tiff(8, 8, Integer.MAX_VALUE), "SamplesPerPixel");
        assertStillServing();
    }

    static void assertStillServing() throws Exception {
        HttpResponse<String> ok = TestServers.post(server, "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"ok?\"}],\"max_tokens\":2}");
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    }

    /** A little-endian, uncompressed, one-strip TIFF of width x height with the given SamplesPerPixel tag. */
    static byte[] tiff(int width, int height, int samplesPerPixel) {
        int[][] tags = {
                {256, 4, width}, {257, 4, height}, {258, 3, 8}, {259, 3, 1}, {262, 3, 2},
                {273, 4, 0 /* strip offset, set below */}, {277, 4, samplesPerPixel}, {278, 4, height},
                {279, 4, width * height * 3}};
        int ifd = 8, ifdBytes = 2 + tags.length * 12 + 4, data = ifd + ifdBytes;
        ByteBuffer b = ByteBuffer.allocate(data + width * height * 3).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(ifd);
        b.putShort((short) tags.length);
        for (int[] t : tags) {
            int value = t[0] == 273 ? data : t[2];
            b.putShort((short) t[0]).putShort((short) t[1]).putInt(1);
            if (t[1] == 3) b.putShort((short) value).putShort((short) 0); else b.putInt(value);
        }
        b.putInt(0);
        return b.array();
    }
}
