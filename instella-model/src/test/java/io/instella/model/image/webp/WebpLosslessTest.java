package io.instella.model.image.webp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The lossless (VP8L) decoder and the alpha-plane (ALPH) validation against Pillow 9.4 / libwebp 1.2.4: exact pixels
 * for cwebp's lossless modes and lossy images with alpha, the same accept/refuse verdict on corrupt variants, and
 * the stop check (time budget, cancellation) during a decode. Fixtures: {@code src/test/resources/webp/lossless*}
 * (see the README there).
 */
class WebpLosslessTest {

    private static final long LIMIT = ImageDecoder.DEFAULT_MAX_PIXELS;

    static Stream<Arguments> fixtures() {
        return WebpFixtures.table("lossless.tsv").stream().map(r -> Arguments.of(r[0], r[2], r[3]));
    }

    static Stream<Arguments> hostile() {
        return WebpFixtures.table("lossless_hostile.tsv").stream()
                .map(r -> Arguments.of(r[0], r[1], Integer.parseInt(r[2]), r[3], r[4], r.length > 5 ? r[5] : ""));
    }

    @ParameterizedTest(name = "{0}: {2}")
    @MethodSource("fixtures")
    void pixelsMatchPillow(String name, String expected, String description) {
        byte[] file = WebpFixtures.bytes("lossless/" + name + ".webp");
        RgbImage image = WebpDecoder.decode(file, name + ".webp", LIMIT);
        assertThat(image.width() + "x" + image.height() + ":" + sha256(image.rgb())).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0} {1} {2} {3}: Pillow says {4}")
    @MethodSource("hostile")
    void corruptVariantsGetPillowsVerdict(String kind, String base, int arg, String value, String verdict,
            String detail) {
        byte[] file = WebpFixtures.bytes("lossless/" + base + ".webp");
        if (kind.equals("mut")) {
            file[arg] = (byte) Integer.parseInt(value);
        } else if (kind.equals("cut")) {
            file = cutBitstream(file, arg);
        }
        byte[] data = file;
        String fileName = base + "-" + kind + "-" + arg + ".webp";
        if (verdict.equals("ok")) {
            RgbImage image = assertTimeoutPreemptively(Duration.ofSeconds(5),
                    () -> WebpDecoder.decode(data, fileName, LIMIT));
            assertThat(image.width() + "x" + image.height() + ":" + sha256(image.rgb())).isEqualTo(detail);
        } else {
            assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThatThrownBy(
                    () -> WebpDecoder.decode(data, fileName, LIMIT))
                    .isInstanceOf(ImageDecodeException.class)
                    .hasMessageStartingWith(fileName + ": invalid WebP file: ")
                    .hasNoCause());
        }
    }

    @Test
    void truncatedLosslessDataSaysSo() {
        byte[] file = cutBitstream(WebpFixtures.bytes("lossless/ll_z6.webp"), 200);
        assertThatThrownBy(() -> WebpDecoder.decode(file, "cut.webp", LIMIT))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage("cut.webp: invalid WebP file: lossless (VP8L) data ends before the image is complete "
                        + "(file truncated or corrupt)");
    }

    @Test
    void prefixCodeConstructionRefusesIncompleteAndOverSubscribedCodes() {
        int[] table = new int[1 << 13];
        assertThat(Vp8lDecoder.buildHuffmanTable(table, 8, new int[] {1, 1}, 2)).isEqualTo(256);
        assertThat(Vp8lDecoder.buildHuffmanTable(table, 8, new int[] {1, 2, 2, 0}, 4)).isEqualTo(256);
        // A single symbol is a zero-bit code whatever its declared length.
        assertThat(Vp8lDecoder.buildHuffmanTable(table, 8, new int[] {0, 5, 0}, 3)).isEqualTo(256);
        assertThat(table[0] >>> 16).isZero();
        assertThat(table[0] & 0xFFFF).isEqualTo(1);
        // Incomplete (a code word unused), over-subscribed, empty: refused, with or without a table to fill.
        for (int[] lengths : new int[][] {{1, 2}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}, {1, 3, 3}}) {
            assertThat(Vp8lDecoder.buildHuffmanTable(table, 8, lengths, lengths.length)).as(Arrays.toString(lengths))
                    .isZero();
            assertThat(Vp8lDecoder.buildHuffmanTable(null, 8, lengths, lengths.length)).isZero();
        }
        // Codes longer than the 8-bit root table get second-level tables.
        int[] deep = new int[16];
        for (int i = 0; i < 15; i++) {
            deep[i] = i + 1;
        }
        deep[15] = 15;
        assertThat(Vp8lDecoder.buildHuffmanTable(table, 8, deep, 16)).isGreaterThan(256);
    }

    @Test
    void stopCheckIsPolledPerRowAndEndsTheDecode() {
        byte[] lossless = WebpFixtures.bytes("lossless/big_2000_lossless.webp");
        byte[] lossy = WebpFixtures.bytes("lossless/big_2000_lossy.webp");
        byte[] alpha = WebpFixtures.bytes("lossless/alph_m6.webp");
        for (byte[] file : new byte[][] {lossless, lossy, alpha}) {
            AtomicInteger polls = new AtomicInteger();
            assertThatThrownBy(() -> WebpDecoder.decode(file, "big.webp", LIMIT, () -> polls.incrementAndGet() > 5))
                    .isInstanceOf(ImageDecodeException.class)
                    .hasMessage("big.webp: decoding was stopped before it finished (WebP)")
                    .extracting(e -> ((ImageDecodeException) e).kind())
                    .isEqualTo(ImageDecodeException.Kind.CANCELLED);
            assertThat(polls.get()).isEqualTo(6);
        }
        // A full lossless decode polls once per pixel row at least (2000 rows), the lossy one once per macroblock row.
        AtomicInteger polls = new AtomicInteger();
        WebpDecoder.decode(lossless, "big.webp", LIMIT, () -> polls.incrementAndGet() < 0);
        assertThat(polls.get()).isGreaterThanOrEqualTo(2000);
        polls.set(0);
        WebpDecoder.decode(lossy, "big.webp", LIMIT, () -> polls.incrementAndGet() < 0);
        assertThat(polls.get()).isGreaterThanOrEqualTo(125);
        // The alpha plane of a lossy image is polled too (48 rows of alpha on top of 3 macroblock rows).
        polls.set(0);
        WebpDecoder.decode(alpha, "a.webp", LIMIT, () -> polls.incrementAndGet() < 0);
        assertThat(polls.get()).isGreaterThanOrEqualTo(51);
    }

    @Test
    void exceptionFromTheStopCheckPropagatesUnchanged() {
        byte[] file = WebpFixtures.bytes("lossless/ll_z6.webp");
        IllegalStateException signal = new IllegalStateException("caller's own signal");
        assertThatThrownBy(() -> WebpDecoder.decode(file, "x.webp", LIMIT, () -> {
            throw signal;
        })).isSameAs(signal);
    }

    @Test
    void largeWebpDecodesEndWithTheTimeLimitError() {
        ImageDecoder warm = ImageDecoder.defaults();
        warm.decode(WebpFixtures.bytes("lossless/ll_z6.webp"), "warm-up.webp");
        warm.decode(WebpFixtures.bytes("lossless/alph_m6.webp"), "warm-up.webp");
        // A warm decode of either file takes 35 ms or more on a fast machine: 5 ms always ends inside (or before) it.
        ImageDecoder hurried = ImageDecoder.defaults().withTimeLimit(Duration.ofMillis(5));
        for (String name : new String[] {"big_2000_lossless", "big_2000_lossy"}) {
            byte[] file = WebpFixtures.bytes("lossless/" + name + ".webp");
            assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThatThrownBy(
                    () -> hurried.decode(file, name + ".webp"))
                    .isInstanceOf(ImageDecodeException.class)
                    .satisfies(e -> {
                        assertThat(((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.TIME_LIMIT);
                        assertThat(e.getMessage()).startsWith(name + ".webp: ").doesNotContain("Exception");
                    }));
        }
        // Without the limit both decode completely.
        assertThat(ImageDecoder.defaults().decode(WebpFixtures.bytes("lossless/big_2000_lossless.webp"), "b.webp")
                .width()).isEqualTo(2000);
    }

    /** The memory budget applies to WebP as to the other formats: estimated from the headers, before any pixel. */
    @Test
    void webpOverTheDecodeMemoryLimitIsRefusedFromItsHeaders() {
        for (String name : new String[] {"big_2000_lossless", "big_2000_lossy"}) {
            byte[] file = WebpFixtures.bytes("lossless/" + name + ".webp");
            assertThatThrownBy(() -> ImageDecoder.defaults().withMaxDecodeBytes(8_000_000).decode(file, name + ".webp"))
                    .isInstanceOf(ImageDecodeException.class)
                    .satisfies(e -> {
                        assertThat(((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.TOO_LARGE);
                        assertThat(e.getMessage()).contains("2000x2000 WebP image").contains("needs about");
                    });
            assertThat(ImageDecoder.defaults().withMaxDecodeBytes(64_000_000).decode(file, name + ".webp").width())
                    .isEqualTo(2000);
        }
    }

    @Test
    void interruptedLosslessDecodeEndsAsCancelled() {
        byte[] file = WebpFixtures.bytes("lossless/big_2000_lossless.webp");
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> WebpDecoder.decode(file, "l.webp", LIMIT))
                    .isInstanceOf(ImageDecodeException.class)
                    .hasMessage("l.webp: decoding was cancelled (WebP)");
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
            Thread.interrupted();
        }
    }

    /** The VP8L payload (or, in a lossy file, the ALPH payload) cut to {@code n} bytes, all sizes made consistent. */
    static byte[] cutBitstream(byte[] file, int n) {
        ByteBuffer out = ByteBuffer.allocate(file.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        out.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(0).put("WEBP".getBytes(StandardCharsets.US_ASCII));
        ByteBuffer in = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int pos = 12;
        while (pos + 8 <= file.length) {
            String tag = new String(file, pos, 4, StandardCharsets.US_ASCII);
            int size = in.getInt(pos + 4);
            byte[] payload = Arrays.copyOfRange(file, pos + 8, pos + 8 + size);
            if (tag.equals("VP8L") || tag.equals("ALPH")) {
                payload = Arrays.copyOf(payload, n);
            }
            out.put(file, pos, 4).putInt(payload.length).put(payload);
            if ((payload.length & 1) != 0) {
                out.put((byte) 0);
            }
            pos += 8 + size + (size & 1);
        }
        out.putInt(4, out.position() - 8);
        return Arrays.copyOf(out.array(), out.position());
    }

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
