package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.Deflater;

import io.instella.core.testing.Golden;
import io.instella.model.image.ImageDecoder.Format;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile headers (sizes that lie, counts that do not match), runaway decodes and odd files: each ends in a clear
 * {@link ImageDecodeException} within about a second. The fixtures are built here, byte by byte.
 */
class ImageDecoderHostileInputTest {

    private static final ImageDecoder DECODER = ImageDecoder.defaults();

    /** Generous bound for a refusal that takes milliseconds. */
    private static final Duration QUICK = Duration.ofSeconds(5);

    private static byte[] golden(String file) throws IOException {
        return Files.readAllBytes(Golden.dir().resolve("decode").resolve(file));
    }

    private static void assertRefusedQuickly(byte[] bytes, String name, String... messageParts) {
        assertTimeoutPreemptively(QUICK, () -> {
            var thrown = assertThatThrownBy(() -> DECODER.decode(bytes, name))
                    .isInstanceOf(ImageDecodeException.class).hasMessageStartingWith(name + ": ");
            for (String part : messageParts) thrown.hasMessageContaining(part);
        });
    }

    // ---- TIFF --------------------------------------------------------------------------------------------------

    /** One IFD entry: tag, type (3 SHORT, 4 LONG), values. */
    private record Tag(int tag, int type, long... values) {}

    /**
     * A little-endian TIFF: header, IFD0 at byte 8 with the given tags (sorted as given), values that do not fit in
     * an entry after the IFD, then {@code pixels}. StripOffsets / TileOffsets values are relative to the pixels.
     */
    private static byte[] tiff(byte[] pixels, Tag... tags) {
        int ifdSize = 2 + 12 * tags.length + 4;
        int overflow = 0;
        for (Tag t : tags) {
            int bytes = t.values.length * (t.type == 3 ? 2 : 4);
            if (bytes > 4) overflow += bytes;
        }
        int pixelBase = 8 + ifdSize + overflow;
        ByteBuffer b = ByteBuffer.allocate(pixelBase + pixels.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(8).putShort((short) tags.length);
        int overflowAt = 8 + ifdSize;
        for (Tag t : tags) {
            long[] values = t.values.clone();
            if (t.tag == 273 || t.tag == 324) {
                for (int i = 0; i < values.length; i++) values[i] += pixelBase;
            }
            b.putShort((short) t.tag).putShort((short) t.type).putInt(values.length);
            int size = t.type == 3 ? 2 : 4;
            int valueField = b.position();
            b.putInt(0);
            int at = valueField; // values of up to 4 bytes sit in the entry itself
            if (values.length * size > 4) {
                b.putInt(valueField, overflowAt);
                at = overflowAt;
                overflowAt += values.length * size;
            }
            for (int i = 0; i < values.length; i++) {
                if (size == 2) b.putShort(at + 2 * i, (short) values[i]);
                else b.putInt(at + 4 * i, (int) values[i]);
            }
        }
        b.putInt(0); // no next IFD
        b.position(pixelBase);
        b.put(pixels);
        return b.array();
    }

    private static Tag[] rgbStripTags(long width, long height, long samples, long rowsPerStrip, long[] offsets,
            long[] counts) {
        return new Tag[] {
            new Tag(256, 4, width), new Tag(257, 4, height), new Tag(258, 3, 8, 8, 8), new Tag(259, 3, 1),
            new Tag(262, 3, 2), new Tag(273, 4, offsets), new Tag(277, 4, samples), new Tag(278, 4, rowsPerStrip),
            new Tag(279, 4, counts)};
    }

    @Test
    void validCraftedTiffDecodes() {
        byte[] pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        byte[] file = tiff(pixels, rgbStripTags(2, 2, 3, 1, new long[] {0, 6}, new long[] {6, 6}));
        RgbImage image = DECODER.decode(file, "ok.tif");
        assertThat(image.rgb()).containsExactly(pixels);
        // Sizes stored as signed LONGs are read as libtiff reads them; a negative one is refused.
        Tag[] tags = rgbStripTags(2, 2, 3, 1, new long[] {0, 6}, new long[] {6, 6});
        tags[0] = new Tag(256, 9, 2);
        assertThat(DECODER.decode(tiff(pixels, tags), "slong.tif").rgb()).containsExactly(pixels);
        tags[0] = new Tag(256, 9, 0xFFFFFFFEL);
        assertRefusedQuickly(tiff(pixels, tags), "negative.tif", "tag 256 has the negative value -2");
    }

    @Test
    void tiffSamplesPerPixel2147483647IsRefusedNotOutOfMemory() {
        byte[] file = tiff(new byte[1024], rgbStripTags(8, 8, 2147483647L, 8, new long[] {0}, new long[] {1024}));
        assertThat(file.length).isLessThan(1400);
        assertRefusedQuickly(file, "spp.tif", "SamplesPerPixel is 2147483647");
    }

    @Test
    void tiffStripCountsThatDoNotMatchTheImageAreRefused() {
        // 4 rows of one row per strip need 4 strips; the file lists 2.
        byte[] file = tiff(new byte[24], rgbStripTags(2, 4, 3, 1, new long[] {0, 6}, new long[] {6, 6}));
        assertRefusedQuickly(file, "strips.tif", "StripOffsets lists 2 strips but the image size needs 4");
        byte[] fewCounts = tiff(new byte[24], rgbStripTags(2, 4, 3, 1, new long[] {0, 6, 12, 18}, new long[] {6}));
        assertRefusedQuickly(fewCounts, "counts.tif", "StripByteCounts lists 1 strips but the image size needs 4");
        byte[] pastEnd = tiff(new byte[24], rgbStripTags(2, 4, 3, 1, new long[] {0, 6, 12, 18},
                new long[] {6, 6, 6, 6000}));
        assertRefusedQuickly(pastEnd, "past.tif", "strip 3", "past the end of the file");
        byte[] zeroRows = tiff(new byte[24], rgbStripTags(2, 4, 3, 0, new long[] {0}, new long[] {24}));
        assertRefusedQuickly(zeroRows, "rps.tif", "RowsPerStrip is 0");
    }

    @Test
    void tiffHugeClaimsInATinyFileAreRefused() {
        // 13000 x 13000 is under the pixel limit, but one uncompressed strip of 24 bytes cannot hold it.
        byte[] file = tiff(new byte[24], rgbStripTags(13000, 13000, 3, 13000, new long[] {0}, new long[] {24}));
        assertRefusedQuickly(file, "huge.tif", "truncated", "13000x13000");
        byte[] bomb = tiff(new byte[24], rgbStripTags(60000, 60000, 3, 1, new long[] {0}, new long[] {24}));
        assertRefusedQuickly(bomb, "bomb.tif", "60000x60000", "exceeds the limit");
        byte[] wide = tiff(new byte[24], rgbStripTags(4_000_000_000L, 1, 3, 1, new long[] {0}, new long[] {24}));
        assertRefusedQuickly(wide, "wide.tif", "4000000000x1", "each side must be below 2^31");
        byte[] bits = tiff(new byte[24], new Tag(256, 4, 2), new Tag(257, 4, 4), new Tag(258, 3, 0),
                new Tag(273, 4, 0), new Tag(277, 3, 1), new Tag(279, 4, 24));
        assertRefusedQuickly(bits, "bits.tif", "BitsPerSample is 0");
        byte[] tiles = tiff(new byte[24], new Tag(256, 4, 2), new Tag(257, 4, 4), new Tag(258, 3, 8),
                new Tag(277, 3, 1), new Tag(322, 4, 60000), new Tag(323, 4, 60000), new Tag(324, 4, 0),
                new Tag(325, 4, 24));
        assertRefusedQuickly(tiles, "tiles.tif", "TIFF tile of 60000x60000");
        byte[] fewTiles = tiff(new byte[24], new Tag(256, 4, 64), new Tag(257, 4, 64), new Tag(258, 3, 8),
                new Tag(277, 3, 1), new Tag(322, 4, 16), new Tag(323, 4, 16), new Tag(324, 4, 0),
                new Tag(325, 4, 24));
        assertRefusedQuickly(fewTiles, "fewtiles.tif", "TileOffsets lists 1 tiles but the image size needs 16");
    }

    // ---- GIF ---------------------------------------------------------------------------------------------------

    /** LZW data (code size 2) for one pixel of index 0: clear, 0, end. */
    private static final byte[] ONE_PIXEL_LZW = {0x44, 0x01};

    private static byte[] gifFrame(int left, int top, int width, int height, byte[] lzw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x2C);
        for (int v : new int[] {left, top, width, height}) {
            out.write(v & 0xFF);
            out.write(v >> 8);
        }
        out.write(0); // no local colour table
        out.write(2); // LZW code size
        out.write(lzw.length);
        out.writeBytes(lzw);
        out.write(0);
        return out.toByteArray();
    }

    private static byte[] gif(int screenW, int screenH, byte[]... frames) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("GIF89a".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(new byte[] {(byte) screenW, (byte) (screenW >> 8), (byte) screenH, (byte) (screenH >> 8),
            (byte) 0x80, 0, 0});
        out.writeBytes(new byte[] {0, 0, 0, (byte) 255, (byte) 255, (byte) 255}); // 2-entry global palette
        for (byte[] f : frames) out.writeBytes(f);
        out.write(0x3B);
        return out.toByteArray();
    }

    @Test
    void aGifFrameSmallerThanItsScreenIsPlacedOnIt() {
        // A white pixel (index 1; LZW: clear, 1, end) at (1, 1) of a 3x2 screen; the rest is index 0, black.
        RgbImage image = DECODER.decode(gif(3, 2, gifFrame(1, 1, 1, 1, new byte[] {0x4C, 0x01})), "placed.gif");
        byte[] expected = new byte[3 * 2 * 3];
        Arrays.fill(expected, 3 * 4, 3 * 5, (byte) 255);
        assertThat(image.rgb()).containsExactly(expected);
        // A frame reaching past the screen grows the image (as Pillow does).
        RgbImage grown = DECODER.decode(gif(1, 1, gifFrame(2, 0, 1, 1, new byte[] {0x4C, 0x01})), "grown.gif");
        assertThat(new int[] {grown.width(), grown.height()}).containsExactly(3, 1);
        assertThat(grown.rgb()).containsExactly(0, 0, 0, 0, 0, 0, 255, 255, 255);
    }

    @Test
    void gifSizesAreCheckedForTheScreenAndEveryFrame() {
        assertThat(DECODER.decode(gif(1, 1, gifFrame(0, 0, 1, 1, ONE_PIXEL_LZW)), "one.gif").width()).isEqualTo(1);
        // A first frame far larger than its 1x1 screen: Pillow grows the image to the frame, then its bomb check.
        assertRefusedQuickly(gif(1, 1, gifFrame(0, 0, 65535, 65535, ONE_PIXEL_LZW)), "frame.gif",
                "65535x65535", "exceeds the limit");
        // ... the same for a frame placed far off the screen, and for a later frame.
        assertRefusedQuickly(gif(10, 10, gifFrame(65000, 65000, 1, 1, ONE_PIXEL_LZW)), "offset.gif",
                "65001x65001", "exceeds the limit");
        assertRefusedQuickly(gif(1, 1, gifFrame(0, 0, 1, 1, ONE_PIXEL_LZW), gifFrame(0, 0, 65535, 65535,
                ONE_PIXEL_LZW)), "second.gif", "GIF frame 2 of 65535x65535");
        // A 13000 x 13000 screen and frame (under the limit) with two bytes of LZW data.
        assertRefusedQuickly(gif(13000, 13000, gifFrame(0, 0, 13000, 13000, ONE_PIXEL_LZW)), "huge.gif",
                "truncated", "13000x13000");
        assertRefusedQuickly(gif(60000, 60000, gifFrame(0, 0, 1, 1, ONE_PIXEL_LZW)), "screen.gif",
                "60000x60000", "exceeds the limit");
        byte[] codeSize = gif(1, 1, gifFrame(0, 0, 1, 1, ONE_PIXEL_LZW));
        codeSize[13 + 6 + 10] = 12;
        assertRefusedQuickly(codeSize, "code.gif", "LZW code size of 12 bits");
        byte[] noImage = Arrays.copyOf(gif(5, 5), 13 + 6);
        assertRefusedQuickly(noImage, "none.gif", "no image");
    }

    // ---- PNG ---------------------------------------------------------------------------------------------------

    private static byte[] chunk(String type, byte[] data) {
        return ImageDecoderTest.chunk(type, data);
    }

    private static byte[] png(int width, int height, int bitDepth, int colourType, byte[] idat) {
        byte[] ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) bitDepth)
                .put((byte) colourType).put((byte) 0).put((byte) 0).put((byte) 0).array();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
        out.writeBytes(chunk("IHDR", ihdr));
        out.writeBytes(chunk("IDAT", idat));
        out.writeBytes(chunk("IEND", new byte[0]));
        return out.toByteArray();
    }

    private static byte[] zlib(byte[] raw) {
        Deflater d = new Deflater(9);
        d.setInput(raw);
        d.finish();
        byte[] buf = new byte[raw.length + 1024];
        int n = d.deflate(buf);
        d.end();
        return Arrays.copyOf(buf, n);
    }

    @Test
    void pngHugeClaimsAndBadChunksAreRefused() {
        // 13000 x 13000 RGB (under the pixel limit) from 11 bytes of deflate data.
        assertRefusedQuickly(png(13000, 13000, 8, 2, zlib(new byte[1])), "huge.png", "truncated",
                "cannot hold 13000x13000 pixels");
        assertRefusedQuickly(png(2_000_000_000, 2_000_000_000, 8, 2, zlib(new byte[1])), "bomb.png",
                "exceeds the limit");
        assertThatThrownBy(() -> DECODER.decode(png(2_000_000_000, 2, 8, 2, zlib(new byte[1])), "k.png"))
                .extracting(e -> ((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.TOO_LARGE);
        assertThatThrownBy(() -> DECODER.decode(png(13000, 13000, 8, 2, zlib(new byte[1])), "k.png"))
                .extracting(e -> ((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.INVALID);
        assertRefusedQuickly(png(10, 10, 7, 2, zlib(new byte[1])), "depth.png", "bit depth 7 with colour type 2");
        byte[] good = png(1, 1, 8, 2, zlib(new byte[4]));
        assertThat(DECODER.decode(good, "good.png").width()).isEqualTo(1);
        byte[] longChunk = good.clone();
        ByteBuffer.wrap(longChunk).putInt(33, 0x7FFFFFF0); // the IDAT claims 2 GB
        assertRefusedQuickly(longChunk, "long.png", "declares 2147483632 bytes but the file ends first");
        byte[] overLimit = good.clone();
        ByteBuffer.wrap(overLimit).putInt(33, 0xFFFFFFF0);
        assertRefusedQuickly(overLimit, "over.png", "at most 2^31 - 1");
        // The deflate bound is not too strict: a real, highly compressible image passes it.
        byte[] flat = png(3000, 3000, 8, 0, zlib(new byte[3000 * 3001]));
        assertThat(DECODER.decode(flat, "flat.png").width()).isEqualTo(3000);
    }

    // ---- BMP ---------------------------------------------------------------------------------------------------

    private static byte[] bmp(int width, int height, int bits, int compression, byte[] pixels) {
        ByteBuffer b = ByteBuffer.allocate(14 + 40 + pixels.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 'B').put((byte) 'M').putInt(14 + 40 + pixels.length).putInt(0).putInt(14 + 40);
        b.putInt(40).putInt(width).putInt(height).putShort((short) 1).putShort((short) bits).putInt(compression)
                .putInt(pixels.length).putInt(2835).putInt(2835).putInt(0).putInt(0);
        b.put(pixels);
        return b.array();
    }

    @Test
    void bmpHugeClaimsAndBadHeadersAreRefused() {
        assertThat(DECODER.decode(bmp(1, 1, 24, 0, new byte[] {3, 2, 1, 0}), "ok.bmp").rgb())
                .containsExactly(1, 2, 3);
        assertRefusedQuickly(bmp(13000, 13000, 24, 0, new byte[64]), "huge.bmp", "truncated", "13000x13000");
        assertRefusedQuickly(bmp(13000, -13000, 24, 0, new byte[64]), "topdown.bmp", "truncated");
        assertRefusedQuickly(bmp(100000, 100000, 24, 0, new byte[64]), "bomb.bmp", "exceeds the limit");
        assertRefusedQuickly(bmp(-5, 5, 24, 0, new byte[64]), "negative.bmp", "width -5");
        assertRefusedQuickly(bmp(5, 5, 7, 0, new byte[64]), "bits.bmp", "pixel depth (7 bits per pixel)");
        assertRefusedQuickly(bmp(5, 5, 24, 4, new byte[64]), "jpeg.bmp", "embedded JPEG");
        assertRefusedQuickly(bmp(5, 5, 24, 1, new byte[64]), "rle.bmp", "compression (1) for 24 bits");
        assertRefusedQuickly(bmp(5, 5, 8, 3, new byte[64]), "fields.bmp", "compression (3) for 8 bits");
    }

    // ---- JPEG --------------------------------------------------------------------------------------------------

    /** The golden JPEG with its frame header's size replaced. */
    private static byte[] jpegClaiming(String golden, int width, int height) throws IOException {
        byte[] b = golden(golden).clone();
        JpegHeaders.Frame frame = JpegHeaders.frame(b);
        assertThat(frame).isNotNull();
        int[] at = {-1};
        JpegHeaders.scan(b, (marker, off, len) -> {
            if (marker == frame.marker()) {
                at[0] = off;
                return false;
            }
            return true;
        });
        b[at[0] + 1] = (byte) (height >> 8);
        b[at[0] + 2] = (byte) height;
        b[at[0] + 3] = (byte) (width >> 8);
        b[at[0] + 4] = (byte) width;
        return b;
    }

    @Test
    void jpegHugeClaimsAreRefusedQuickly() throws IOException {
        assertRefusedQuickly(jpegClaiming("jpeg_q75_sub2.jpg", 13000, 13000), "huge.jpg", "JPEG file is truncated",
                "13000x13000");
        assertRefusedQuickly(jpegClaiming("jpeg_q75_sub2.jpg", 65000, 65000), "bomb.jpg", "exceeds the limit");
        assertRefusedQuickly(jpegClaiming("jpeg_q75_sub2.jpg", 0, 100), "zero.jpg", "zero size");
        // Progressive scans after the first DC scan can be tiny by design (end-of-band runs), but the first DC scan
        // codes every block.
        assertRefusedQuickly(jpegClaiming("jpeg_q85_sub2_prog.jpg", 8000, 8000), "huge-prog.jpg",
                "JPEG file is truncated: scan 1 has", "too few for a 8000x8000 image");
    }

    // ---- the time limit, the memory estimate and cancellation --------------------------------------------------

    /** A valid 24-bit BMP of {@code side} x {@code side} grey noise, decoded in some tenths of a second. */
    private static byte[] bigBmp(int side) {
        byte[] pixels = new byte[side * side * 3];
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) (i * 31 + (i >> 9));
        return bmp(side, side, 24, 0, pixels);
    }

    @Test
    void aDecodeOverItsTimeLimitEndsPromptly() {
        byte[] big = bigBmp(3000);
        ImageDecoder quick = DECODER.withTimeLimit(Duration.ofMillis(20));
        assertThat(quick.timeLimit()).isEqualTo(Duration.ofMillis(20));
        assertTimeoutPreemptively(QUICK, () -> assertThatThrownBy(() -> quick.decode(big, "slow.bmp"))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage("slow.bmp: decoding the BMP image took longer than the limit of 20 ms (raise it with "
                        + "ImageDecoder.withTimeLimit if the image is trusted)")
                .extracting(e -> ((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.TIME_LIMIT));
        assertThatThrownBy(() -> DECODER.withTimeLimit(Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void interruptingTheDecodingThreadCancelsTheDecode() throws Exception {
        byte[] big = bigBmp(3000);
        // Interrupted before it starts: refused at once, the interrupt stays set for the caller.
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> DECODER.decode(big, "early.bmp")).isInstanceOf(ImageDecodeException.class)
                    .hasMessage("early.bmp: decoding the BMP image was cancelled")
                    .extracting(e -> ((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.CANCELLED);
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
            Thread.interrupted();
        }
        // Interrupted while decoding: ends within a row or so.
        Throwable[] outcome = new Throwable[1];
        Thread worker = Thread.ofPlatform().start(() -> {
            try {
                DECODER.decode(big, "busy.bmp");
            } catch (Throwable t) {
                outcome[0] = t;
            }
        });
        Thread.sleep(30);
        long start = System.nanoTime();
        worker.interrupt();
        worker.join(QUICK.toMillis());
        assertThat(worker.isAlive()).isFalse();
        assertThat((System.nanoTime() - start) / 1_000_000).as("ms from interrupt to end").isLessThan(2000);
        if (outcome[0] != null) { // null only if the decode finished within the 30 ms
            assertThat(outcome[0]).isInstanceOf(ImageDecodeException.class)
                    .hasMessage("busy.bmp: decoding the BMP image was cancelled");
        }
    }

    @Test
    void theMemoryEstimateIsCheckedBeforeDecoding() throws IOException {
        byte[] png = golden("png_rgba.png");
        // 333 x 245 RGBA: 326,340 bytes of destination + 244,755 of RGB result.
        assertThatThrownBy(() -> DECODER.withMaxDecodeBytes(500_000).decode(png, "mem.png"))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage("mem.png: decoding this 333x245 PNG image needs about 571095 bytes, more than the limit "
                        + "of 500000 bytes for one image (raise it with ImageDecoder.withMaxDecodeBytes if the image "
                        + "is trusted)");
        assertThat(DECODER.withMaxDecodeBytes(600_000).decode(png, "mem.png").width()).isEqualTo(333);
        assertThatThrownBy(() -> DECODER.withMaxDecodeBytes(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void everyThrowableBecomesAPlainMessage() {
        DecodeBudget budget = new DecodeBudget(Duration.ofSeconds(30));
        ImageHeaders.Facts facts = new ImageHeaders.Facts(100, 100, 60_000);
        Throwable[] thrown = {
            new OutOfMemoryError("Java heap space"), new StackOverflowError(),
            new ClassCastException("class java.io.EOFException cannot be cast to class java.lang.Number"),
            new NullPointerException("Cannot invoke \"Object.getClass()\" because \"x\" is null"),
            new ArrayIndexOutOfBoundsException("Index 70000 out of bounds for length 4096"),
            new IllegalStateException("java.lang.IllegalStateException: bad state"),
            new javax.imageio.IIOException("Error reading PNG image data", new java.util.zip.ZipException("bad")),
            new java.io.EOFException(), new NoClassDefFoundError("com/twelvemonkeys/Foo")};
        for (Throwable t : thrown) {
            ImageDecodeException e = DecodeFailures.toDecodeException("x.png", Format.PNG, t, budget, facts);
            assertHygienic(e.getMessage(), "x.png");
            assertThat(e.getMessage()).as(t.toString()).contains("PNG");
            assertThat(e.getCause()).isSameAs(t);
        }
        assertThat(DecodeFailures.toDecodeException("x.png", Format.PNG, new OutOfMemoryError(), budget, facts)
                .getMessage()).isEqualTo("x.png: PNG image too large to decode in the memory available (100x100)");
        assertThat(DecodeFailures.toDecodeException("x.png", Format.PNG, new java.io.EOFException(), budget, facts)
                .getMessage()).isEqualTo("x.png: corrupt or truncated PNG data (the data ends before the image is "
                        + "complete)");
    }

    static void assertHygienic(String message, String name) {
        assertThat(message).startsWith(name + ": ").doesNotContain("java.").doesNotContain("Exception")
                .doesNotContain("class ").doesNotContain("cannot be cast").doesNotContain("Error:")
                .doesNotContain("com.").doesNotContain("null");
        assertThat(message.length()).isLessThan(400);
    }

    // ---- corrupted variants of every format --------------------------------------------------------------------

    /** Truncations at many offsets and flipped bytes (all of the header region, some further in). */
    private static List<byte[]> corruptedVariants(byte[] good) {
        List<byte[]> variants = new ArrayList<>();
        for (int cut = 1; cut < Math.min(good.length, 96); cut += 7) variants.add(Arrays.copyOf(good, cut));
        for (int i = 1; i < 12; i++) variants.add(Arrays.copyOf(good, (int) ((long) good.length * i / 12)));
        variants.add(Arrays.copyOf(good, good.length - 1));
        int header = Math.min(good.length, 160);
        for (int p = 0; p < header; p += 4) {
            byte[] v = good.clone();
            v[p] ^= (byte) 0xFF;
            variants.add(v);
        }
        for (int p = 1; p < header; p += 13) {
            byte[] v = good.clone();
            v[p] = (byte) 0x7F;
            variants.add(v);
        }
        if (ImageDecoder.sniff(good) == Format.TIFF) {
            // The image directory of these files sits after the pixel data: flip its entries too.
            int ifd = ByteBuffer.wrap(good, 4, 4).order(good[0] == 'I' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN)
                    .getInt();
            for (int p = ifd; p < Math.min(good.length, ifd + 200); p += 3) {
                byte[] v = good.clone();
                v[p] ^= (byte) 0xFF;
                variants.add(v);
            }
        }
        java.util.Random random = new java.util.Random(14);
        for (int i = 0; i < 12; i++) {
            byte[] v = good.clone();
            for (int k = 0; k < 4; k++) v[random.nextInt(v.length)] = (byte) random.nextInt(256);
            variants.add(v);
        }
        return variants;
    }

    @Test
    void corruptedVariantsOfEveryFormatEndCleanlyAndQuickly() throws IOException {
        String[] files = {"jpeg_q75_sub2.jpg", "jpeg_q85_sub2_prog.jpg", "jpeg_cmyk.jpg", "png_rgba.png",
            "png_palette_transparent.png", "png_gray16.png", "gif.gif", "bmp.bmp", "tiff_lzw.tif"};
        ImageDecoder decoder = DECODER.withTimeLimit(Duration.ofSeconds(10));
        int refused = 0;
        int decoded = 0;
        long slowestMs = 0;
        String slowest = "";
        for (String file : files) {
            List<byte[]> variants = corruptedVariants(golden(file));
            for (int i = 0; i < variants.size(); i++) {
                byte[] v = variants.get(i);
                String name = file + "#" + i;
                long start = System.nanoTime();
                try {
                    RgbImage image = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> decoder.decode(v, name));
                    assertThat(image.rgb().length).isEqualTo(image.width() * image.height() * 3);
                    decoded++;
                } catch (ImageDecodeException e) {
                    assertHygienic(e.getMessage(), name);
                    refused++;
                }
                long ms = (System.nanoTime() - start) / 1_000_000;
                if (ms > slowestMs) {
                    slowestMs = ms;
                    slowest = name;
                }
            }
        }
        System.out.printf("corrupted variants: %d refused, %d decoded, slowest %d ms (%s)%n", refused, decoded,
                slowestMs, slowest);
        assertThat(refused).isGreaterThan(decoded);
        assertThat(slowestMs).as("slowest variant %s", slowest).isLessThan(5000);
    }

    // ---- files that are not regular files ----------------------------------------------------------------------

    @Test
    void devZeroIsRefusedAtOnce() {
        Path zero = Path.of("/dev/zero");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(zero));
        long start = System.nanoTime();
        assertTimeoutPreemptively(QUICK, () -> assertThatThrownBy(() -> DECODER.decode(zero))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage("/dev/zero: not a supported image format (JPEG, PNG, GIF, BMP, TIFF, WebP); first bytes: "
                        + "00 00 00 00 00 00 00 00"));
        assertThat((System.nanoTime() - start) / 1_000_000).as("ms").isLessThan(1000);
    }

    private static boolean mkfifo(Path fifo) throws InterruptedException {
        try {
            Process p = new ProcessBuilder("mkfifo", fifo.toString()).redirectErrorStream(true).start();
            return p.waitFor() == 0 && Files.exists(fifo);
        } catch (IOException e) {
            return false; // no mkfifo here
        }
    }

    @Test
    void aFifoWithNoWriterDoesNotBlockForever(@TempDir Path tmp) throws Exception {
        Path fifo = tmp.resolve("no-writer.fifo");
        org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo(fifo), "mkfifo is not available");
        ImageDecoder decoder = DECODER.withTimeLimit(Duration.ofMillis(300));
        assertTimeoutPreemptively(QUICK, () -> assertThatThrownBy(() -> decoder.decode(fifo))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage(fifo + ": reading the file took longer than the limit of 300 ms (a pipe or device that "
                        + "sends no data?)")
                .extracting(e -> ((ImageDecodeException) e).kind()).isEqualTo(ImageDecodeException.Kind.TIME_LIMIT));
        // The reading thread was released: a second decode behaves the same.
        assertTimeoutPreemptively(QUICK, () -> assertThatThrownBy(() -> decoder.decode(fifo))
                .isInstanceOf(ImageDecodeException.class).hasMessageContaining("took longer"));
        // Interrupting the waiting caller cancels the read (with the default 30 s limit).
        Throwable[] outcome = new Throwable[1];
        Thread waiting = Thread.ofPlatform().start(() -> {
            try {
                DECODER.decode(fifo);
            } catch (Throwable t) {
                outcome[0] = t;
            }
        });
        Thread.sleep(100);
        waiting.interrupt();
        waiting.join(QUICK.toMillis());
        assertThat(waiting.isAlive()).isFalse();
        assertThat(outcome[0]).isInstanceOf(ImageDecodeException.class)
                .hasMessage(fifo + ": reading the file was cancelled");
    }

    @Test
    void aFifoIsReadWithinItsCaps(@TempDir Path tmp) throws Exception {
        Path fifo = tmp.resolve("image.fifo");
        org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo(fifo), "mkfifo is not available");
        byte[] png = golden("png_rgba.png");
        Thread writer = Thread.ofPlatform().daemon().start(() -> {
            try {
                Files.write(fifo, png);
            } catch (IOException ignored) {
                // the reader gave up
            }
        });
        RgbImage image = assertTimeoutPreemptively(QUICK, () -> DECODER.decode(fifo));
        assertThat(image.rgb()).isEqualTo(DECODER.decode(png, "png_rgba.png").rgb());
        writer.join();

        Thread tooMuch = Thread.ofPlatform().daemon().start(() -> {
            try {
                Files.write(fifo, png);
            } catch (IOException ignored) {
                // the reader stops at its cap and closes the pipe
            }
        });
        assertTimeoutPreemptively(QUICK, () -> assertThatThrownBy(() -> DECODER.withMaxFileBytes(1000).decode(fifo))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage(fifo + ": file of more than 1000 bytes is larger than the limit of 1000 bytes for an "
                        + "image (ImageDecoder.withMaxFileBytes)"));
        tooMuch.join(QUICK.toMillis());
    }

    @Test
    void aRegularFileOverTheCapIsRefusedFromItsSize(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("big.png");
        Files.write(file, golden("png_rgba.png"));
        long size = Files.size(file);
        assertThatThrownBy(() -> DECODER.withMaxFileBytes(size - 1).decode(file))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessage(file + ": file of " + size + " bytes is larger than the limit of " + (size - 1)
                        + " bytes for an image (ImageDecoder.withMaxFileBytes)");
        assertThat(DECODER.withMaxFileBytes(size).decode(file).width()).isEqualTo(333);
        assertThat(DECODER.maxFileBytes()).isEqualTo(256L << 20);
    }

    @Test
    void procFilesAndSocketsEndInPlainErrors(@TempDir Path tmp) throws IOException {
        Path proc = Path.of("/proc/self/status");
        if (Files.exists(proc)) {
            assertThatThrownBy(() -> DECODER.decode(proc)).isInstanceOf(ImageDecodeException.class)
                    .hasMessageContaining("not a supported image format");
        }
        Path socketPath = tmp.resolve("s.sock");
        try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(socketPath));
            assertTimeoutPreemptively(QUICK, () -> {
                ImageDecodeException e = org.junit.jupiter.api.Assertions.assertThrows(ImageDecodeException.class,
                        () -> DECODER.decode(socketPath));
                assertHygienic(e.getMessage(), socketPath.toString());
                assertThat(e.getMessage()).contains("cannot read the file");
            });
        } catch (UnsupportedOperationException e) {
            // no Unix domain sockets on this platform
        }
    }
}
