package io.instella.model.image.webp;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.RgbImage;

/**
 * Decodes WebP files to RGB exactly as Pillow 9.4 ({@code Image.open(f).convert("RGB")}, libwebp 1.2.4) does.
 *
 * <p>The container is validated first, as libwebp's demuxer validates it (see {@link WebpContainer}): nothing is
 * allocated for a file whose RIFF or chunk sizes lie, whose VP8X canvas differs from the image it holds, or whose
 * canvas exceeds the pixel limit. Lossy (VP8) images are decoded by {@link Vp8Decoder} and converted with libwebp's
 * fancy upsampling and fixed-point YUV to RGB ({@link FancyYuvToRgb}), so the pixels are Pillow's, bit for bit.
 * Lossless (VP8L) images, which are exact by construction, go through the TwelveMonkeys ImageIO plugin after the same
 * header checks. The alpha channel is not decoded: {@code convert("RGB")} drops it and libwebp's RGB samples do not
 * depend on it (only the ALPH header is checked). For an animation, the first frame is drawn on a transparent-black
 * canvas as libwebp's {@code WebPAnimDecoder} does for Pillow.
 *
 * <p>Decoding checks {@link Thread#interrupted()} once per macroblock row; an interrupted decode ends with an
 * {@link ImageDecodeException} saying it was cancelled (and the thread's interrupt flag set again).
 */
public final class WebpDecoder {

    private WebpDecoder() {
    }

    /**
     * Decodes a WebP file held in memory.
     *
     * @param data          the whole file
     * @param nameForErrors the file name (or a description) used in error messages
     * @param maxPixels     largest canvas width * height accepted
     * @throws ImageDecodeException for every failure, with a message naming the file and the problem
     */
    public static RgbImage decode(byte[] data, String nameForErrors, long maxPixels) {
        String name = nameForErrors == null ? "<image bytes>" : nameForErrors;
        try {
            return decodeChecked(data, maxPixels);
        } catch (ImageDecodeException e) {
            throw e;
        } catch (WebpFormatException e) {
            throw new ImageDecodeException(name, "invalid WebP file: " + e.getMessage());
        } catch (WebpContainer.PixelLimitException e) {
            throw new ImageDecodeException(name, "WebP image of " + e.width + "x" + e.height + " = "
                    + (e.width * e.height) + " pixels exceeds the limit of " + e.limit + " pixels (possible "
                    + "decompression bomb); raise it with ImageDecoder.withMaxPixels if the image is trusted");
        } catch (Vp8Decoder.DecodeCancelledException e) {
            throw new ImageDecodeException(name, "decoding was cancelled (WebP)");
        } catch (OutOfMemoryError e) {
            throw new ImageDecodeException(name, "WebP image is too large to decode in the available memory");
        } catch (StackOverflowError e) {
            throw new ImageDecodeException(name, "corrupt WebP data (the decoder ran out of stack)");
        } catch (Throwable e) {
            // Out-of-range reads and similar failures inside a decoder mean the data is inconsistent.
            throw new ImageDecodeException(name, "corrupt or truncated WebP data", e);
        }
    }

    private static RgbImage decodeChecked(byte[] data, long maxPixels) throws IOException {
        if (data == null || data.length == 0) {
            throw new WebpFormatException("file is empty");
        }
        WebpContainer container = WebpContainer.parse(data, maxPixels);
        WebpContainer.Frame frame = container.frame();
        RgbImage image;
        if (frame.lossless()) {
            image = decodeLossless(data, frame);
        } else {
            checkAlphaHeader(data, frame);
            Vp8Frame yuv = Vp8Decoder.decode(data, frame.payloadOffset(), frame.payloadSize(),
                    frame.availableSize());
            image = new RgbImage(yuv.width(), yuv.height(), FancyYuvToRgb.convert(yuv));
        }
        if (!container.animated()) {
            return image;
        }
        // WebPAnimDecoder: the first frame on a canvas cleared to transparent black (RGB 0, 0, 0).
        RgbImage canvas = RgbImage.filled(container.canvasWidth(), container.canvasHeight(), 0, 0, 0);
        canvas.paste(image, frame.x(), frame.y());
        return canvas;
    }

    /** libwebp's ALPHInit checks: header byte fields, and enough bytes for uncompressed alpha. */
    private static void checkAlphaHeader(byte[] data, WebpContainer.Frame frame) {
        if (frame.alphaOffset() < 0) {
            return;
        }
        if (frame.alphaSize() <= 1) {
            throw new WebpFormatException("ALPH chunk is too short (" + frame.alphaSize() + " bytes)");
        }
        int h = data[frame.alphaOffset()] & 0xFF;
        int method = h & 3;
        int preprocessing = (h >> 4) & 3;
        int reserved = (h >> 6) & 3;
        if (method > 1 || preprocessing > 1 || reserved != 0) {
            throw new WebpFormatException(String.format("ALPH chunk header 0x%02x is invalid", h));
        }
        if (method == 0 && (long) frame.alphaSize() - 1 < (long) frame.width() * frame.height()) {
            throw new WebpFormatException("uncompressed ALPH chunk holds " + (frame.alphaSize() - 1)
                    + " bytes, " + ((long) frame.width() * frame.height()) + " needed");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // VP8L through TwelveMonkeys, fed a minimal RIFF/VP8L file holding only the validated bitstream.

    private static RgbImage decodeLossless(byte[] data, WebpContainer.Frame frame) throws IOException {
        int size = frame.payloadSize();
        int padded = size + (size & 1);
        byte[] file = new byte[20 + padded];
        writeTag(file, 0, "RIFF");
        writeLe32(file, 4, 12 + padded);
        writeTag(file, 8, "WEBP");
        writeTag(file, 12, "VP8L");
        writeLe32(file, 16, size);
        System.arraycopy(data, frame.payloadOffset(), file, 20, size);

        ImageReader reader = losslessReader();
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(file))) {
            reader.setInput(in, true, true);
            BufferedImage decoded = reader.read(0);
            if (decoded.getWidth() != frame.width() || decoded.getHeight() != frame.height()) {
                throw new WebpFormatException("VP8L image decoded to " + decoded.getWidth() + "x"
                        + decoded.getHeight() + " instead of " + frame.width() + "x" + frame.height());
            }
            return toRgb(decoded);
        } finally {
            reader.dispose();
        }
    }

    private static ImageReader losslessReader() {
        ImageReader first = null;
        for (Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName("webp"); it.hasNext(); ) {
            ImageReader r = it.next();
            if (r.getClass().getName().startsWith("com.twelvemonkeys.")) {
                return r;
            }
            if (first == null) {
                first = r;
            }
        }
        if (first == null) {
            throw new WebpFormatException("lossless WebP needs the TwelveMonkeys imageio-webp plugin on the "
                    + "class path, and it is missing");
        }
        return first;
    }

    /** The decoded samples as stored (non-premultiplied R, G, B; alpha dropped like convert("RGB")). */
    private static RgbImage toRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        Raster raster = image.getRaster();
        int bands = raster.getNumBands();
        if (bands < 3 || image.getColorModel().isAlphaPremultiplied()) {
            throw new WebpFormatException("the lossless decoder returned an unexpected pixel layout");
        }
        byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        int[] row = new int[w * bands];
        int o = 0;
        for (int y = 0; y < h; y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int p = x * bands;
                out[o++] = (byte) row[p];
                out[o++] = (byte) row[p + 1];
                out[o++] = (byte) row[p + 2];
            }
        }
        return new RgbImage(w, h, out);
    }

    private static void writeTag(byte[] b, int at, String tag) {
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) tag.charAt(i);
        }
    }

    private static void writeLe32(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
        b[at + 2] = (byte) (v >>> 16);
        b[at + 3] = (byte) (v >>> 24);
    }
}
