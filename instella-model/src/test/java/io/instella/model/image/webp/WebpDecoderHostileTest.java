package io.instella.model.image.webp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import java.util.stream.Stream;

import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed WebP files: every verdict of Pillow 9.4 / libwebp 1.2.4 (refuse, or decode to these exact pixels) is
 * reproduced, refusals are {@link ImageDecodeException}s with a readable message, and nothing hostile is slow.
 */
class WebpDecoderHostileTest {

    private static final long LIMIT = ImageDecoder.DEFAULT_MAX_PIXELS;

    static Stream<Arguments> verdicts() {
        return WebpFixtures.table("hostile.tsv").stream().map(r -> Arguments.of(r[0], r[1], r[2]));
    }

    /** The hostile file: committed, or rebuilt from a fixture exactly as the generator built it. */
    private static byte[] hostileFile(String name) {
        if (name.startsWith("vp8_cut_")) {
            int cut = Integer.parseInt(name.substring("vp8_cut_".length()));
            byte[] vp8 = vp8Payload(WebpFixtures.bytes("size_17x33.webp"));
            return riff(chunk("VP8 ", Arrays.copyOf(vp8, cut)));
        }
        if (name.startsWith("file_cut_")) {
            int cut = Integer.parseInt(name.substring("file_cut_".length()));
            return Arrays.copyOf(WebpFixtures.bytes("alpha_q50.webp"), cut);
        }
        if (name.startsWith("mut_")) {
            // mut_<fixture>_<offset>_<value>: one byte of a fixture replaced.
            String[] parts = name.substring("mut_".length()).split("_");
            int value = Integer.parseInt(parts[parts.length - 1]);
            int offset = Integer.parseInt(parts[parts.length - 2]);
            String fixture = String.join("_", Arrays.copyOf(parts, parts.length - 2));
            byte[] file = WebpFixtures.bytes(fixture + ".webp");
            file[offset] = (byte) value;
            return file;
        }
        return WebpFixtures.bytes("hostile/" + name + ".webp");
    }

    @ParameterizedTest(name = "{0}: Pillow says {1}")
    @MethodSource("verdicts")
    void sameVerdictAsPillow(String name, String verdict, String detail) {
        byte[] file = hostileFile(name);
        String fileName = name + ".webp";
        if (verdict.equals("ok")) {
            RgbImage image = assertTimeoutPreemptively(Duration.ofSeconds(5),
                    () -> WebpDecoder.decode(file, fileName, LIMIT));
            assertThat(image.width() + "x" + image.height() + ":" + sha256(image.rgb())).isEqualTo(detail);
        } else {
            assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThatThrownBy(
                    () -> WebpDecoder.decode(file, fileName, LIMIT))
                    .isInstanceOf(ImageDecodeException.class)
                    .satisfies(e -> assertReadable(e, fileName)));
        }
    }

    @Test
    void canvasLieIsRefusedAtOnceThroughImageDecoder() {
        // A small 17x33 VP8 frame in a VP8X whose canvas claims 4900x4900 (under the pixel limit): libwebp refuses
        // it as a canvas/frame mismatch; decoding it took 200+ s and gigabytes before.
        byte[] file = WebpFixtures.bytes("hostile/canvas_lie_4900.webp");
        assertThat(file.length).isLessThan(500);
        // Load the decoder's classes first: the bound is about the file, not about a cold JVM.
        ImageDecoder.defaults().decode(WebpFixtures.bytes("size_1x1.webp"), "warm-up.webp");
        assertTimeoutPreemptively(Duration.ofSeconds(1), () -> assertThatThrownBy(
                () -> ImageDecoder.defaults().decode(file, "lie.webp"))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage("lie.webp: invalid WebP file: VP8X canvas 4900x4900 does not match the image size "
                        + "17x33"));
    }

    @Test
    void pixelLimitIsCheckedOnTheDeclaredCanvasBeforeDecoding() {
        byte[] big = riff(vp8x(0, 16383, 16383), chunk("VP8 ", vp8Payload(WebpFixtures.bytes("size_17x33.webp"))));
        assertThatThrownBy(() -> WebpDecoder.decode(big, "big.webp", LIMIT))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("big.webp: WebP image of 16383x16383 = 268402689 pixels exceeds the limit");
        byte[] small = WebpFixtures.bytes("size_17x33.webp");
        assertThatThrownBy(() -> ImageDecoder.defaults().withMaxPixels(560).decode(small, "s.webp"))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("17x33 = 561 pixels exceeds the limit of 560 pixels");
        assertThat(ImageDecoder.defaults().withMaxPixels(561).decode(small, "s.webp").width()).isEqualTo(17);
    }

    @Test
    void animationCanvasIsCheckedAgainstThePixelLimit() {
        byte[] anim = WebpFixtures.bytes("animated_first_frame.webp");
        assertThatThrownBy(() -> WebpDecoder.decode(anim, "anim.webp", 40 * 30 - 1))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("40x30 = 1200 pixels exceeds the limit of 1199");
    }

    @Test
    void interruptedDecodeEndsAsCancelled() {
        byte[] file = WebpFixtures.bytes("photo_q75.webp");
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> WebpDecoder.decode(file, "p.webp", LIMIT))
                    .isInstanceOf(ImageDecodeException.class)
                    .hasMessage("p.webp: decoding was cancelled (WebP)");
            assertThat(Thread.currentThread().isInterrupted()).as("interrupt flag kept for the caller").isTrue();
        } finally {
            Thread.interrupted();
        }
    }

    @Test
    void randomCorruptionNeverEscapesAsAnotherException() {
        // Byte flips anywhere (headers, partition sizes, tokens, alpha): decode or a readable refusal, fast.
        String[] seeds = {"size_17x33.webp", "alpha_q50.webp", "partitions_8.webp", "lossless_rgb.webp",
                "animated_first_frame.webp", "pattern_odd_q20.webp"};
        Random random = new Random(14);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (String seed : seeds) {
                byte[] original = WebpFixtures.bytes(seed);
                for (int i = 0; i < 300; i++) {
                    byte[] mutated = original.clone();
                    int flips = 1 + random.nextInt(4);
                    for (int f = 0; f < flips; f++) {
                        int at = random.nextInt(mutated.length);
                        mutated[at] = (byte) (random.nextBoolean() ? random.nextInt(256) : mutated[at] ^ (1 << random.nextInt(8)));
                    }
                    try {
                        RgbImage image = WebpDecoder.decode(mutated, "m.webp", 1 << 20);
                        assertThat((long) image.width() * image.height()).isLessThanOrEqualTo(1 << 20);
                    } catch (ImageDecodeException e) {
                        assertReadable(e, "m.webp");
                    }
                }
            }
        });
    }

    private static void assertReadable(Throwable e, String fileName) {
        assertThat(e.getMessage()).startsWith(fileName + ": ");
        assertThat(e.getMessage()).containsIgnoringCase("webp");
        assertThat(e.getMessage()).doesNotContain("java.", "Exception", "Error:", "null");
    }

    // ---------------------------------------------------------------------------------------------------------
    // building files

    private static byte[] vp8Payload(byte[] simpleWebp) {
        int size = ByteBuffer.wrap(simpleWebp, 16, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        return Arrays.copyOfRange(simpleWebp, 20, 20 + size);
    }

    private static byte[] chunk(String tag, byte[] payload) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(tag.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.writeBytes(le32(payload.length));
        out.writeBytes(payload);
        if ((payload.length & 1) != 0) {
            out.write(0);
        }
        return out.toByteArray();
    }

    private static byte[] vp8x(int flags, int width, int height) {
        byte[] p = new byte[10];
        p[0] = (byte) flags;
        int w = width - 1;
        int h = height - 1;
        p[4] = (byte) w;
        p[5] = (byte) (w >> 8);
        p[6] = (byte) (w >> 16);
        p[7] = (byte) h;
        p[8] = (byte) (h >> 8);
        p[9] = (byte) (h >> 16);
        return chunk("VP8X", p);
    }

    private static byte[] riff(byte[]... chunks) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes("WEBP".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        for (byte[] c : chunks) {
            body.writeBytes(c);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("RIFF".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.writeBytes(le32(body.size()));
        out.writeBytes(body.toByteArray());
        return out.toByteArray();
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
