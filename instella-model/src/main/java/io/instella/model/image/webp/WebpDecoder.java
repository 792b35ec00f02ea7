package io.instella.model.image.webp;

import java.util.function.BooleanSupplier;

import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.RgbImage;

/**
 * Decodes WebP files to RGB exactly as Pillow 9.4 ({@code Image.open(f).convert("RGB")}, libwebp 1.2.4) does.
 *
 * <p>The container is validated first, as libwebp's demuxer validates it (see {@link WebpContainer}): nothing is
 * allocated for a file whose RIFF or chunk sizes lie, whose VP8X canvas differs from the image it holds, or whose
 * canvas exceeds the pixel limit. Lossy (VP8) images are decoded by {@link Vp8Decoder} and converted with libwebp's
 * fancy upsampling and fixed-point YUV to RGB ({@link FancyYuvToRgb}), so the pixels are Pillow's, bit for bit.
 * Lossless (VP8L) images are decoded by {@link Vp8lDecoder}, which refuses exactly the streams libwebp refuses.
 * A lossy image's alpha plane (ALPH chunk) is decoded as far as libwebp needs to accept or refuse it, then dropped:
 * {@code convert("RGB")} drops it and libwebp's RGB samples do not depend on it, but Pillow refuses a file whose
 * alpha is corrupt. For an animation, the first frame is drawn on a transparent-black canvas as libwebp's
 * {@code WebPAnimDecoder} does for Pillow.
 *
 * <p>Decoding checks {@link Thread#interrupted()} and the optional stop check once per macroblock row (lossy) or
 * pixel row (lossless, alpha); an interrupted decode ends with an {@link ImageDecodeException} saying it was
 * cancelled (and the thread's interrupt flag set again).
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
        return decode(data, nameForErrors, maxPixels, null);
    }

    /**
     * Decodes a WebP file held in memory, polling {@code stop} once per macroblock row or pixel row.
     *
     * @param stop checked during the decode; when it returns true the decode ends with an
     *             {@link ImageDecodeException} of kind {@link ImageDecodeException.Kind#CANCELLED}. An exception
     *             the check itself throws propagates unchanged (so a caller can unwind with its own signal).
     *             May be null.
     * @throws ImageDecodeException for every failure, with a message naming the file and the problem
     */
    public static RgbImage decode(byte[] data, String nameForErrors, long maxPixels, BooleanSupplier stop) {
        String name = nameForErrors == null ? "<image bytes>" : nameForErrors;
        BooleanSupplier guarded = stop == null ? null : () -> {
            try {
                return stop.getAsBoolean();
            } catch (RuntimeException | Error e) {
                throw new StopCheckFailure(e);
            }
        };
        return mapFailures(name, () -> decodeChecked(data, maxPixels, guarded));
    }

    /**
     * What decoding would take, read from the container and frame headers alone (no pixel is decoded): the canvas
     * width and height and an estimate of the bytes the decode allocates, as {@code {width, height, bytes}}.
     *
     * @throws ImageDecodeException as {@link #decode} for a file whose headers are invalid or over the pixel limit
     */
    public static long[] plan(byte[] data, String nameForErrors, long maxPixels) {
        String name = nameForErrors == null ? "<image bytes>" : nameForErrors;
        return mapFailures(name, () -> {
            if (data == null || data.length == 0) {
                throw new WebpFormatException("file is empty");
            }
            WebpContainer container = WebpContainer.parse(data, maxPixels);
            WebpContainer.Frame frame = container.frame();
            long framePixels = (long) frame.width() * frame.height();
            // Lossless: the ARGB image plus one transform buffer (4 + 4 bytes a pixel); lossy: Y, U, V planes
            // (1.5 bytes a pixel). Both then write 3 bytes a pixel of RGB; an animation also fills its canvas.
            long bytes = framePixels * (frame.lossless() ? 8 : 2) + framePixels * 3
                    + (container.animated() ? (long) container.canvasWidth() * container.canvasHeight() * 3 : 0);
            return new long[] {container.canvasWidth(), container.canvasHeight(), bytes};
        });
    }

    private static <T> T mapFailures(String name, java.util.function.Supplier<T> work) {
        try {
            return work.get();
        } catch (StopCheckFailure e) {
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw (RuntimeException) e.getCause();
        } catch (ImageDecodeException e) {
            throw e;
        } catch (WebpFormatException e) {
            throw new ImageDecodeException(name, "invalid WebP file: " + e.getMessage());
        } catch (WebpContainer.PixelLimitException e) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, "WebP image of " + e.width
                    + "x" + e.height + " = " + (e.width * e.height) + " pixels exceeds the limit of " + e.limit
                    + " pixels (possible decompression bomb); raise it with ImageDecoder.withMaxPixels if the image "
                    + "is trusted", null);
        } catch (Vp8Decoder.DecodeCancelledException e) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.CANCELLED,
                    "decoding was cancelled (WebP)", null);
        } catch (DecodeStoppedException e) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.CANCELLED,
                    "decoding was stopped before it finished (WebP)", null);
        } catch (OutOfMemoryError e) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE,
                    "WebP image is too large to decode in the available memory", e);
        } catch (StackOverflowError e) {
            throw new ImageDecodeException(name, "corrupt WebP data (the decoder ran out of stack)");
        } catch (Throwable e) {
            // Out-of-range reads and similar failures inside a decoder mean the data is inconsistent.
            throw new ImageDecodeException(name, "corrupt or truncated WebP data", e);
        }
    }

    private static RgbImage decodeChecked(byte[] data, long maxPixels, BooleanSupplier stop) {
        if (data == null || data.length == 0) {
            throw new WebpFormatException("file is empty");
        }
        WebpContainer container = WebpContainer.parse(data, maxPixels);
        WebpContainer.Frame frame = container.frame();
        RgbImage image;
        if (frame.lossless()) {
            int[] argb = Vp8lDecoder.decodeArgb(data, frame.payloadOffset(), frame.availableSize(), frame.width(),
                    frame.height(), stop);
            image = argbToRgb(frame.width(), frame.height(), argb);
        } else {
            checkAlphaHeader(data, frame);
            Vp8Frame yuv = Vp8Decoder.decode(data, frame.payloadOffset(), frame.payloadSize(),
                    frame.availableSize(), stop);
            validateAlpha(data, frame, stop);
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

    /** Non-premultiplied R, G, B of each ARGB pixel (alpha dropped like convert("RGB")). */
    private static RgbImage argbToRgb(int width, int height, int[] argb) {
        byte[] out = new byte[Math.multiplyExact(argb.length, 3)];
        int o = 0;
        for (int p : argb) {
            out[o++] = (byte) (p >> 16);
            out[o++] = (byte) (p >> 8);
            out[o++] = (byte) p;
        }
        return new RgbImage(width, height, out);
    }

    /**
     * A VP8L-compressed alpha plane is decoded by libwebp along with the image, and a corrupt one fails the whole
     * decode; its samples are not needed for RGB, so it is only validated. (Uncompressed alpha needs no more than
     * {@link #checkAlphaHeader}'s size check; unfiltering and level dequantization cannot fail.)
     */
    private static void validateAlpha(byte[] data, WebpContainer.Frame frame, BooleanSupplier stop) {
        if (frame.alphaOffset() < 0 || (data[frame.alphaOffset()] & 3) != 1) {
            return;
        }
        Vp8lDecoder.validateAlpha(data, frame.alphaOffset() + 1, frame.alphaSize() - 1, frame.width(),
                frame.height(), stop);
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

    /** Thrown inside the decoders when the caller's stop check returns true. */
    static final class DecodeStoppedException extends RuntimeException {
        DecodeStoppedException() {
            super(null, null, false, false);
        }
    }

    /** Carries an exception thrown by the caller's stop check out of the decoders unchanged. */
    private static final class StopCheckFailure extends RuntimeException {
        StopCheckFailure(Throwable cause) {
            super(null, cause, false, false);
        }
    }
}
