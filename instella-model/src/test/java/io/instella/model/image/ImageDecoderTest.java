package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input, the decompression-bomb guard, EXIF orientation and Pillow's CMYK rule. */
class ImageDecoderTest {

    private static final ImageDecoder DECODER = ImageDecoder.defaults();

    // ---- crafted PNGs ----------------------------------------------------------------------------------------

    /** A PNG chunk: length, type, data, CRC-32 of type and data. */
    static byte[] chunk(String type, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(12 + data.length);
        b.putInt(data.length);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        b.put(t).put(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        b.putInt((int) crc.getValue());
        return b.array();
    }

    private static byte[] ihdr(int w, int h) {
        return ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0)
                .put((byte) 0).array();
    }

    private static byte[] zlib(byte[] raw) {
        Deflater d = new Deflater();
        d.setInput(raw);
        d.finish();
        byte[] buf = new byte[raw.length + raw.length / 8 + 64];
        int n = d.deflate(buf);
        d.end();
        return Arrays.copyOf(buf, n);
    }

    /** A PNG with the given header and an IDAT holding one filter byte, far too little for any real image. */
    private static byte[] headerOnlyPng(int w, int h) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
        out.writeBytes(chunk("IHDR", ihdr(w, h)));
        out.writeBytes(chunk("IDAT", zlib(new byte[1])));
        out.writeBytes(chunk("IEND", new byte[0]));
        return out.toByteArray();
    }

    private static byte[] golden(String file) throws IOException {
        return Files.readAllBytes(Golden.dir().resolve("decode").resolve(file));
    }

    // ---- decompression bombs ---------------------------------------------------------------------------------

    @Test
    void refusesA30000x30000HeaderBeforeDecodingPixels() {
        byte[] bomb = headerOnlyPng(30000, 30000);
        assertThat(bomb.length).isLessThan(100);
        assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                assertThatThrownBy(() -> DECODER.decode(bomb, "bomb.png"))
                        .isInstanceOf(ImageDecodeException.class)
                        .hasMessageContaining("bomb.png")
                        .hasMessageContaining("30000x30000")
                        .hasMessageContaining("900000000 pixels exceeds the limit of 178956970")
                        .hasMessageContaining("decompression bomb"));
    }

    @Test
    void limitIsCheckedFromTheHeaderAheadOfThePixelData() {
        // The same short file passes the default limit and then fails on its missing pixel data; under a lower
        // limit it is refused first, so the limit never waits for pixels.
        byte[] png = headerOnlyPng(2000, 1000);
        assertThatThrownBy(() -> DECODER.decode(png, "short.png"))
                .isInstanceOf(ImageDecodeException.class).hasMessageContaining("corrupt or truncated PNG data");
        assertThatThrownBy(() -> DECODER.withMaxPixels(1_999_999).decode(png, "short.png"))
                .isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("2000x1000 = 2000000 pixels exceeds the limit of 1999999");
        assertThat(DECODER.withMaxPixels(5).maxPixels()).isEqualTo(5);
        assertThatThrownBy(() -> DECODER.withMaxPixels(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void appliesTheLimitToEveryFormat() throws IOException {
        for (String f : new String[] {"jpeg_q75_sub2.jpg", "png_rgba.png", "gif.gif", "bmp.bmp", "tiff_lzw.tif",
                "webp_lossy.webp", "webp_lossless.webp"}) {
            byte[] bytes = golden(f);
            assertThatThrownBy(() -> DECODER.withMaxPixels(333L * 245 - 1).decode(bytes, f))
                    .as(f).isInstanceOf(ImageDecodeException.class).hasMessageContaining("333x245");
            assertThat(DECODER.withMaxPixels(333L * 245).decode(bytes, f).width()).isEqualTo(333);
        }
    }

    // ---- bad files ---------------------------------------------------------------------------------------------

    @Test
    void truncatedFiles() throws IOException {
        byte[] jpeg = golden("jpeg_q75_sub2.jpg");
        assertThatThrownBy(() -> DECODER.decode(Arrays.copyOf(jpeg, jpeg.length / 2), "half.jpg"))
                .isInstanceOf(ImageDecodeException.class).hasMessageStartingWith("half.jpg: ")
                .hasMessageContaining("JPEG file is truncated");
        // Pillow also refuses a JPEG that only lacks its end marker.
        assertThatThrownBy(() -> DECODER.decode(Arrays.copyOf(jpeg, jpeg.length - 2), "noeoi.jpg"))
                .isInstanceOf(ImageDecodeException.class).hasMessageContaining("truncated");
        for (String f : new String[] {"png_rgba.png", "gif.gif", "bmp.bmp", "tiff_lzw.tif", "webp_lossy.webp"}) {
            byte[] b = golden(f);
            assertThatThrownBy(() -> DECODER.decode(Arrays.copyOf(b, b.length / 2), "half-" + f))
                    .as(f).isInstanceOf(ImageDecodeException.class).hasMessageContaining("half-" + f)
                    .hasMessageContaining("truncated");
        }
    }

    @Test
    void corruptBytes() {
        byte[] png = new byte[200];
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, 0, png, 0, 8);
        Arrays.fill(png, 8, png.length, (byte) 0x5A);
        assertThatThrownBy(() -> DECODER.decode(png, "garbage.png")).isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("garbage.png")
                .hasMessageContaining("corrupt PNG data: the first chunk must be a 13-byte IHDR header");
        byte[] jpeg = new byte[300];
        jpeg[0] = (byte) 0xFF;
        jpeg[1] = (byte) 0xD8;
        jpeg[2] = (byte) 0xFF;
        Arrays.fill(jpeg, 3, jpeg.length, (byte) 0x11);
        assertThatThrownBy(() -> DECODER.decode(jpeg, "garbage.jpg")).isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("garbage.jpg").hasMessageContaining("JPEG");
    }

    @Test
    void zeroSizeImage() {
        assertThatThrownBy(() -> DECODER.decode(headerOnlyPng(0, 10), "empty.png"))
                .isInstanceOf(ImageDecodeException.class).hasMessageContaining("empty.png")
                .hasMessageContaining("PNG");
        assertThatThrownBy(() -> DECODER.decode(new byte[0], "nothing.png"))
                .isInstanceOf(ImageDecodeException.class).hasMessage("nothing.png: file is empty (0 bytes), not an image");
    }

    @Test
    void notAnImage(@TempDir Path tmp) throws IOException {
        byte[] text = "just some text, not pixels\n".getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> DECODER.decode(text, "notes.png")).isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("notes.png: not a supported image format")
                .hasMessageContaining("6a 75 73 74");
        Path missing = tmp.resolve("missing.jpg");
        assertThatThrownBy(() -> DECODER.decode(missing)).isInstanceOf(ImageDecodeException.class)
                .hasMessage(missing + ": file not found");
        assertThatThrownBy(() -> DECODER.decode(tmp)).isInstanceOf(ImageDecodeException.class)
                .hasMessageContaining("is a directory");
        Path file = tmp.resolve("photo.jpg");
        Files.write(file, golden("jpeg_q75_sub2.jpg"));
        assertThat(DECODER.decode(file).height()).isEqualTo(245);
    }

    // ---- EXIF orientation ------------------------------------------------------------------------------------

    /** A little-endian TIFF structure holding only IFD0 with the orientation tag. */
    private static byte[] exifTiff(int orientation) {
        return ByteBuffer.allocate(26).order(java.nio.ByteOrder.LITTLE_ENDIAN).put((byte) 'I').put((byte) 'I')
                .putShort((short) 42).putInt(8).putShort((short) 1).putShort((short) 0x0112).putShort((short) 3)
                .putInt(1).putShort((short) orientation).putShort((short) 0).putInt(0).array();
    }

    private static byte[] jpegWithExif(byte[] jpeg, int orientation) {
        byte[] tiff = exifTiff(orientation);
        byte[] payload = new byte[6 + tiff.length];
        System.arraycopy("Exif".getBytes(StandardCharsets.US_ASCII), 0, payload, 0, 4);
        System.arraycopy(tiff, 0, payload, 6, tiff.length);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0xFF);
        out.write(0xD8);
        out.write(0xFF);
        out.write(0xE1);
        out.write((payload.length + 2) >> 8);
        out.write((payload.length + 2) & 0xFF);
        out.writeBytes(payload);
        out.write(jpeg, 2, jpeg.length - 2);
        return out.toByteArray();
    }

    private static byte[] pngWithExif(byte[] png, int orientation) {
        // eXIf goes right after IHDR (8-byte signature + 25-byte IHDR chunk).
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(png, 0, 33);
        out.writeBytes(chunk("eXIf", exifTiff(orientation)));
        out.write(png, 33, png.length - 33);
        return out.toByteArray();
    }

    @Test
    void exifOrientationIsIgnoredByDefaultAndAppliedOnRequest() throws IOException {
        byte[] jpeg = golden("jpeg_q90_sub1.jpg");
        RgbImage plain = DECODER.decode(jpeg, "plain.jpg");
        byte[] rotated = jpegWithExif(jpeg, 6);
        assertThat(DECODER.decode(rotated, "exif.jpg").rgb()).isEqualTo(plain.rgb());
        RgbImage turned = DECODER.withExifOrientation(true).decode(rotated, "exif.jpg");
        assertThat(new int[] {turned.width(), turned.height()}).containsExactly(245, 333);
        int w = plain.width();
        int h = plain.height();
        for (int y = 0; y < turned.height(); y += 37) {
            for (int x = 0; x < turned.width(); x += 29) {
                for (int c = 0; c < 3; c++) {
                    // 6 = rotate 90 degrees clockwise: the left column, read bottom-up, becomes the top row.
                    assertThat(turned.get(x, y, c)).isEqualTo(plain.get(y, h - 1 - x, c));
                }
            }
        }
        byte[] png = golden("png_rgba.png");
        RgbImage pngPlain = DECODER.decode(png, "p.png");
        RgbImage png8 = DECODER.withExifOrientation(true).decode(pngWithExif(png, 8), "p8.png");
        assertThat(png8.width()).isEqualTo(pngPlain.height());
        assertThat(png8.get(0, 0, 1)).isEqualTo(pngPlain.get(w - 1, 0, 1));
        assertThat(png8.get(5, 7, 2)).isEqualTo(pngPlain.get(w - 1 - 7, 5, 2));
        // A golden without EXIF is unchanged under the option.
        assertThat(DECODER.withExifOrientation(true).decode(jpeg, "plain.jpg").rgb()).isEqualTo(plain.rgb());
    }

    private static RgbImage transpose(RgbImage s) {
        byte[] o = new byte[s.rgb().length];
        for (int y = 0; y < s.width(); y++) {
            for (int x = 0; x < s.height(); x++) {
                for (int c = 0; c < 3; c++) o[(y * s.height() + x) * 3 + c] = (byte) s.get(y, x, c);
            }
        }
        return new RgbImage(s.height(), s.width(), o);
    }

    private static RgbImage mirror(RgbImage s, boolean horizontal) {
        byte[] o = new byte[s.rgb().length];
        for (int y = 0; y < s.height(); y++) {
            for (int x = 0; x < s.width(); x++) {
                int sx = horizontal ? s.width() - 1 - x : x;
                int sy = horizontal ? y : s.height() - 1 - y;
                for (int c = 0; c < 3; c++) o[(y * s.width() + x) * 3 + c] = (byte) s.get(sx, sy, c);
            }
        }
        return new RgbImage(s.width(), s.height(), o);
    }

    @Test
    void allEightOrientationsMatchTheirTransposeOperations() {
        byte[] px = new byte[5 * 3 * 3];
        for (int i = 0; i < px.length; i++) px[i] = (byte) (i * 7 + 1);
        RgbImage s = new RgbImage(5, 3, px);
        RgbImage t = transpose(s);
        RgbImage[] expected = {
            null, s, mirror(s, true), mirror(mirror(s, true), false), mirror(s, false), t,
            mirror(t, true), mirror(mirror(t, true), false), mirror(t, false)};
        for (int o = 1; o <= 8; o++) {
            RgbImage got = ExifOrientation.apply(s, o);
            assertThat(new int[] {got.width(), got.height()}).as("orientation %d", o)
                    .containsExactly(expected[o].width(), expected[o].height());
            assertThat(got.rgb()).as("orientation %d", o).isEqualTo(expected[o].rgb());
        }
    }

    // ---- ICC profiles: Pillow ignores them, so the pixels must not be colour-managed ------------------------------

    private static byte[] linearRgbProfile() {
        return java.awt.color.ICC_Profile.getInstance(java.awt.color.ColorSpace.CS_LINEAR_RGB).getData();
    }

    @Test
    void embeddedIccProfilesAreIgnoredLikePillowDoes() throws IOException {
        byte[] profile = linearRgbProfile();
        assertThat(profile.length).isLessThan(65000);
        byte[] jpeg = golden("jpeg_q75_sub2.jpg");
        ByteArrayOutputStream j = new ByteArrayOutputStream();
        j.write(jpeg, 0, 2);
        byte[] head = "ICC_PROFILE\0".getBytes(StandardCharsets.US_ASCII);
        int len = 2 + head.length + 2 + profile.length;
        j.write(0xFF);
        j.write(0xE2);
        j.write(len >> 8);
        j.write(len & 0xFF);
        j.writeBytes(head);
        j.write(1);
        j.write(1);
        j.writeBytes(profile);
        j.write(jpeg, 2, jpeg.length - 2);
        assertThat(DECODER.decode(j.toByteArray(), "icc.jpg").rgb()).isEqualTo(DECODER.decode(jpeg, "plain.jpg").rgb());

        byte[] png = golden("png_rgba.png");
        ByteArrayOutputStream iccp = new ByteArrayOutputStream();
        iccp.writeBytes("linear".getBytes(StandardCharsets.US_ASCII));
        iccp.write(0);
        iccp.write(0);
        iccp.writeBytes(zlib(profile));
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(png, 0, 33);
        p.writeBytes(chunk("iCCP", iccp.toByteArray()));
        p.write(png, 33, png.length - 33);
        assertThat(DECODER.decode(p.toByteArray(), "icc.png").rgb()).isEqualTo(DECODER.decode(png, "plain.png").rgb());
    }

    // ---- Pillow's CMYK -> RGB ------------------------------------------------------------------------------------

    @Test
    void cmykConversionFollowsPillowsCmyk2rgb() {
        // nk = 255 - k; r = nk - (t + (t >> 8)) >> 8 with t = c * nk + 128
        assertThat(ImageDecoder.cmykToRgbChannel(0, 0)).isEqualTo(255);
        assertThat(ImageDecoder.cmykToRgbChannel(255, 0)).isZero();
        assertThat(ImageDecoder.cmykToRgbChannel(0, 255)).isZero();
        assertThat(ImageDecoder.cmykToRgbChannel(100, 50)).isEqualTo(125);
        assertThat(ImageDecoder.cmykToRgbChannel(19, 0)).isEqualTo(236);
        assertThat(ImageDecoder.cmykToRgbChannel(128, 128)).isEqualTo(63);
    }

    @Test
    void formatIsSniffedFromContentNotName() throws IOException {
        byte[] png = golden("png_rgba.png");
        assertThat(DECODER.decode(png, "misnamed.jpg").width()).isEqualTo(333);
        assertThat(ImageDecoder.sniff(golden("webp_lossless.webp"))).isEqualTo(ImageDecoder.Format.WEBP);
        assertThat(ImageDecoder.sniff(golden("tiff_lzw.tif"))).isEqualTo(ImageDecoder.Format.TIFF);
    }
}
