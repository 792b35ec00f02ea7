package io.instella.model.image;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DirectColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;

import io.instella.model.image.webp.WebpDecoder;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;

/**
 * Decodes image files to 8-bit RGB exactly as {@code PIL.Image.open(f).convert("RGB")} (Pillow 9.4 / 10.3) does:
 * alpha is dropped (not composited), palettes are looked up, 16-bit samples follow Pillow's mode rules, CMYK JPEGs
 * are read with Pillow's "Adobe inverted" convention and converted with its {@code cmyk2rgb}, and EXIF orientation
 * is ignored unless {@link #withExifOrientation(boolean)} asks for {@code ImageOps.exif_transpose}.
 *
 * <p>JPEG goes through the JDK's libjpeg-6b based reader as raw components (ISLOW IDCT and fancy upsampling, as
 * in Pillow's libjpeg-turbo), converted here with libjpeg's fixed-point YCbCr table; PNG and GIF through the JDK readers; BMP and TIFF through the
 * TwelveMonkeys plugins. WebP goes through {@link io.instella.model.image.webp.WebpDecoder}: its own container
 * validation and VP8 decoder with libwebp's fancy upsampling and fixed-point YUV -> RGB (lossy pixels are Pillow's,
 * bit for bit) and its own lossless (VP8L) decoder with libwebp's validity checks.
 *
 * <p>Hostile files end in an {@link ImageDecodeException}, quickly:
 * <ul>
 * <li>Every size a header declares is read by {@link ImageHeaders} (not by the decoders) and checked before any
 *     pixel buffer exists: the pixel count against {@link #withMaxPixels} (default {@link #DEFAULT_MAX_PIXELS}, as
 *     Pillow raises {@code DecompressionBombError} above {@code 2 * MAX_IMAGE_PIXELS}), the sizes against each
 *     other and against the data present, the estimated memory against {@link #withMaxDecodeBytes} and the heap.
 * <li>A decode has a time limit ({@link #withTimeLimit}, default {@link #DEFAULT_TIME_LIMIT}) and is cancelled
 *     when the calling thread is interrupted; either way it ends within about one image row or input read.
 * <li>Every {@code Throwable} a decoder throws (out of memory, stack overflow, a plugin's runtime exception)
 *     becomes an {@link ImageDecodeException} in plain words naming the file and the format.
 * <li>{@link #decode(Path)} reads at most {@link #withMaxFileBytes} bytes, and a FIFO, device or socket only
 *     until the time limit.
 * </ul>
 * Instances are immutable and thread-safe.
 */
public final class ImageDecoder {

    /** Pillow's {@code 2 * Image.MAX_IMAGE_PIXELS} (2 * 89,478,485): larger images are refused as decompression bombs. */
    public static final long DEFAULT_MAX_PIXELS = 178_956_970L;

    /** How long one decode (reading the file included) may take by default. */
    public static final Duration DEFAULT_TIME_LIMIT = Duration.ofSeconds(30);

    /** The largest image file {@link #decode(Path)} reads by default: 256 MiB. */
    public static final long DEFAULT_MAX_FILE_BYTES = 256L << 20;

    /** By default a decode may use as much memory as the JVM's heap could give it ({@code -Xmx}). */
    public static final long UNLIMITED_DECODE_BYTES = Long.MAX_VALUE;

    private static final ImageDecoder DEFAULTS = new ImageDecoder(DEFAULT_MAX_PIXELS, false, DEFAULT_TIME_LIMIT,
            UNLIMITED_DECODE_BYTES, DEFAULT_MAX_FILE_BYTES);

    /** Formats recognised from the first bytes of a file (never from the file name). */
    enum Format {
        JPEG("JPEG"), PNG("PNG"), GIF("GIF"), BMP("BMP"), TIFF("TIFF"), WEBP("WebP");

        final String label;

        Format(String label) {
            this.label = label;
        }
    }

    private final long maxPixels;
    private final boolean exifOrientation;
    private final Duration timeLimit;
    private final long maxDecodeBytes;
    private final long maxFileBytes;

    private ImageDecoder(long maxPixels, boolean exifOrientation, Duration timeLimit, long maxDecodeBytes,
            long maxFileBytes) {
        this.maxPixels = maxPixels;
        this.exifOrientation = exifOrientation;
        this.timeLimit = timeLimit;
        this.maxDecodeBytes = maxDecodeBytes;
        this.maxFileBytes = maxFileBytes;
    }

    /**
     * Pillow's behaviour: pixel limit {@link #DEFAULT_MAX_PIXELS}, EXIF orientation not applied; time limit
     * {@link #DEFAULT_TIME_LIMIT}, files up to {@link #DEFAULT_MAX_FILE_BYTES}, memory bounded by the heap.
     */
    public static ImageDecoder defaults() {
        return DEFAULTS;
    }

    /** The same decoder with another limit on width * height (at least 1). */
    public ImageDecoder withMaxPixels(long maxPixels) {
        if (maxPixels < 1) {
            throw new IllegalArgumentException("maxPixels must be at least 1, got " + maxPixels);
        }
        return new ImageDecoder(maxPixels, exifOrientation, timeLimit, maxDecodeBytes, maxFileBytes);
    }

    /**
     * The same decoder with another time limit for one decode, reading the file included (positive). A decode
     * that runs out of time ends with an {@link ImageDecodeException} saying so. Independently of the limit, a
     * decode is cancelled when its thread is interrupted (e.g. {@code Future.cancel(true)}): it then ends with an
     * {@link ImageDecodeException} saying it was cancelled, and the thread's interrupt status stays set.
     */
    public ImageDecoder withTimeLimit(Duration limit) {
        if (limit == null || limit.isNegative() || limit.isZero()) {
            throw new IllegalArgumentException("the time limit must be positive, got " + limit);
        }
        return new ImageDecoder(maxPixels, exifOrientation, limit, maxDecodeBytes, maxFileBytes);
    }

    /**
     * The same decoder with a limit on the memory one decode may allocate (at least 1 byte), estimated from the
     * validated header before decoding: decoder buffers plus the RGB result (3 bytes per pixel). An image over the
     * limit is refused before any pixel buffer exists. The JVM's maximum heap is always a limit too.
     */
    public ImageDecoder withMaxDecodeBytes(long maxBytes) {
        if (maxBytes < 1) {
            throw new IllegalArgumentException("maxDecodeBytes must be at least 1, got " + maxBytes);
        }
        return new ImageDecoder(maxPixels, exifOrientation, timeLimit, maxBytes, maxFileBytes);
    }

    /**
     * The same decoder with another cap on the bytes {@link #decode(Path)} reads (at least 1): a larger regular
     * file is refused from its size, a pipe or device once it has sent more.
     */
    public ImageDecoder withMaxFileBytes(long maxBytes) {
        if (maxBytes < 1 || maxBytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("maxFileBytes must be between 1 and " + (Integer.MAX_VALUE - 8)
                    + ", got " + maxBytes);
        }
        return new ImageDecoder(maxPixels, exifOrientation, timeLimit, maxDecodeBytes, maxBytes);
    }

    /**
     * The same decoder, applying the EXIF orientation tag (JPEG APP1, PNG eXIf, WebP EXIF, TIFF IFD0) like
     * {@code PIL.ImageOps.exif_transpose} when {@code apply} is true. The reference pipeline does not do this.
     */
    public ImageDecoder withExifOrientation(boolean apply) {
        return new ImageDecoder(maxPixels, apply, timeLimit, maxDecodeBytes, maxFileBytes);
    }

    public long maxPixels() {
        return maxPixels;
    }

    public Duration timeLimit() {
        return timeLimit;
    }

    public long maxDecodeBytes() {
        return maxDecodeBytes;
    }

    public long maxFileBytes() {
        return maxFileBytes;
    }

    public boolean appliesExifOrientation() {
        return exifOrientation;
    }

    /**
     * Reads and decodes a file; every failure is an {@link ImageDecodeException} naming the file. The time limit
     * covers reading and decoding; a FIFO, device or socket is read only until then, and at most
     * {@link #maxFileBytes()} bytes from any file.
     */
    public RgbImage decode(Path file) {
        String name = file.toString();
        DecodeBudget budget = new DecodeBudget(timeLimit);
        byte[] bytes = ImageFileReader.read(file, name, maxFileBytes, budget);
        return decode(bytes, name, budget);
    }

    /** Decodes an encoded image held in memory; {@code nameForErrors} names it in error messages. */
    public RgbImage decode(byte[] bytes, String nameForErrors) {
        return decode(bytes, nameForErrors, new DecodeBudget(timeLimit));
    }

    private RgbImage decode(byte[] bytes, String nameForErrors, DecodeBudget budget) {
        String name = nameForErrors == null ? "<image bytes>" : nameForErrors;
        if (bytes == null || bytes.length == 0) {
            throw new ImageDecodeException(name, "file is empty (0 bytes), not an image");
        }
        Format format = sniff(bytes);
        if (format == null) {
            throw new ImageDecodeException(name, "not a supported image format (JPEG, PNG, GIF, BMP, TIFF, WebP); "
                    + "first bytes: " + hexPrefix(bytes));
        }
        ImageHeaders.Facts facts = null;
        try {
            // Every declared size checked (and the memory estimated) before a decoder sees the file.
            facts = ImageHeaders.check(format, bytes, name, maxPixels);
            if (facts != null) {
                checkMemory(name, format, facts);
            }
            if (budget.shouldStop()) throw budget.stoppedError(name, format.label);
            RgbImage image = switch (format) {
                case JPEG -> decodeJpeg(bytes, name, budget);
                case GIF -> decodeGif(bytes, name, budget);
                // The budget's own poll unwinds the WebP decoder (its exception propagates unchanged), so the
                // error below is the budget's time-limit or cancellation message.
                case WEBP -> WebpDecoder.decode(bytes, name, maxPixels, () -> {
                    budget.poll();
                    return false;
                });
                default -> decodeGeneric(bytes, name, format, budget);
            };
            if (exifOrientation) {
                int orientation = ExifOrientation.read(bytes, format);
                image = ExifOrientation.apply(image, orientation);
            }
            return image;
        } catch (Throwable t) {
            throw DecodeFailures.toDecodeException(name, format, t, budget, facts);
        }
    }

    /** Refuses, before decoding, an image whose decode would need more memory than allowed or available. */
    private void checkMemory(String name, Format format, ImageHeaders.Facts facts) {
        // Turning the image by its EXIF orientation takes a second RGB copy.
        long need = facts.decodeBytes() + (exifOrientation ? facts.width() * facts.height() * 3 : 0);
        String size = facts.width() + "x" + facts.height() + " " + format.label + " image";
        if (facts.width() * facts.height() * 3 > Integer.MAX_VALUE - 8) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, size + " is too large to "
                    + "decode: its RGB pixels would take more than 2 GiB", null);
        }
        if (need > maxDecodeBytes) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, "decoding this " + size
                    + " needs about " + bytes(need) + ", more than the limit of " + bytes(maxDecodeBytes) + " for "
                    + "one image (raise it with ImageDecoder.withMaxDecodeBytes if the image is trusted)", null);
        }
        long heap = Runtime.getRuntime().maxMemory();
        if (need > heap) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, "image too large to decode in "
                    + "the memory available: this " + size + " needs about " + bytes(need) + ", the Java heap "
                    + "holds at most " + bytes(heap), null);
        }
    }

    /** Bytes as a person reads them: exact below 10 MiB, else whole MiB. */
    private static String bytes(long n) {
        return n < 10L << 20 ? n + " bytes" : ((n + (1 << 20) - 1) >> 20) + " MiB";
    }

    // ---------------------------------------------------------------------------------------------------------
    // format dispatch

    static Format sniff(byte[] b) {
        if (startsWith(b, 0, 0xFF, 0xD8, 0xFF)) return Format.JPEG;
        if (startsWith(b, 0, 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A)) return Format.PNG;
        if (startsWith(b, 0, 'G', 'I', 'F', '8') && b.length > 5 && (b[4] == '7' || b[4] == '9') && b[5] == 'a') {
            return Format.GIF;
        }
        if (startsWith(b, 0, 'B', 'M')) return Format.BMP;
        if (startsWith(b, 0, 'I', 'I', 42, 0) || startsWith(b, 0, 'M', 'M', 0, 42)) return Format.TIFF;
        if (startsWith(b, 0, 'R', 'I', 'F', 'F') && startsWith(b, 8, 'W', 'E', 'B', 'P')) return Format.WEBP;
        return null;
    }

    private static boolean startsWith(byte[] b, int off, int... magic) {
        if (b.length < off + magic.length) return false;
        for (int i = 0; i < magic.length; i++) {
            if ((b[off + i] & 0xFF) != magic[i]) return false;
        }
        return true;
    }

    private static String hexPrefix(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(8, b.length); i++) {
            if (i > 0) sb.append(' ');
            sb.append(String.format(Locale.ROOT, "%02x", b[i] & 0xFF));
        }
        return sb.toString();
    }

    /**
     * Whether a decoder's message can be shown to a user as it is: short plain words, no Java class names or
     * internals.
     */
    static boolean isPlainText(String message) {
        if (message == null || message.isBlank() || message.length() > 160) return false;
        String m = message.toLowerCase(Locale.ROOT);
        return !(m.contains("java") || m.contains("exception") || m.contains("class ") || m.contains("$")
                || m.contains("null") || m.contains("@") || m.contains("sun.") || m.contains("twelvemonkeys")
                || m.contains("index ") || m.contains("out of bounds") || m.contains("cannot be cast"));
    }

    private static ImageInputStream stream(byte[] bytes, DecodeBudget budget) {
        // In-memory stream (ImageIO.createImageInputStream could spill to a temporary file) that stops when the
        // decode's time is up or its thread is interrupted.
        return new CheckedImageInputStream(bytes, budget);
    }

    /** The first registered reader for the format, preferring the class whose name starts with {@code prefer}. */
    private static ImageReader reader(String name, String formatName, String prefer) {
        ImageReader first = null;
        for (Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(formatName); it.hasNext(); ) {
            ImageReader r = it.next();
            if (prefer != null && r.getClass().getName().startsWith(prefer)) return r;
            if (first == null) first = r;
        }
        if (first == null) {
            throw new ImageDecodeException(name, "no ImageIO reader for " + formatName + " is installed (the "
                    + "TwelveMonkeys ImageIO plugins must be on the class path, with their META-INF/services files)");
        }
        return first;
    }

    /** Header-only size check: refuses empty images and decompression bombs before pixels are decoded. */
    private void checkSize(String name, Format format, long width, long height) {
        checkPixels(name, format.label + " image", width, height, maxPixels);
    }

    /**
     * Refuses an empty size or one over the pixel limit; {@code what} names the thing measured ("PNG image",
     * "GIF frame 3", "TIFF tile").
     */
    static void checkPixels(String name, String what, long width, long height, long maxPixels) {
        if (width <= 0 || height <= 0) {
            throw new ImageDecodeException(name, what + " has zero size (" + width + "x" + height + ")");
        }
        if (width > Integer.MAX_VALUE || height > Integer.MAX_VALUE) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, what + " of " + width + "x"
                    + height + " is too large to decode (each side must be below 2^31)", null);
        }
        long pixels = width * height;
        if (pixels > maxPixels) {
            throw new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, what + " of " + width + "x"
                    + height + " = " + pixels + " pixels exceeds the limit of " + maxPixels + " pixels (possible "
                    + "decompression bomb); raise it with ImageDecoder.withMaxPixels if the image is trusted", null);
        }
    }

    /** After a reader returns: a decode it cut short for the budget must not pass as a complete image. */
    private static void checkNotStopped(DecodeBudget budget) {
        if (budget.stopped() != null) throw new DecodeBudget.StopSignal();
    }

    private RgbImage decodeGeneric(byte[] bytes, String name, Format format, DecodeBudget budget)
            throws IOException {
        // TwelveMonkeys registers its BMP/TIFF/WebP readers ahead of the JDK's; PNG has only the JDK reader.
        ImageReader reader = reader(name, format.name().toLowerCase(Locale.ROOT),
                format == Format.PNG ? null : "com.twelvemonkeys.");
        try (ImageInputStream in = stream(bytes, budget)) {
            reader.setInput(in, true, true);
            budget.watch(reader);
            checkSize(name, format, reader.getWidth(0), reader.getHeight(0));
            BufferedImage image = reader.read(0, rawDestination(reader));
            checkNotStopped(budget);
            return toRgb(image, budget);
        } finally {
            reader.dispose();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // JPEG

    private RgbImage decodeJpeg(byte[] bytes, String name, DecodeBudget budget) throws IOException {
        ImageReader reader = reader(name, "jpeg", "com.sun.imageio.");
        List<String> warnings = new ArrayList<>();
        reader.addIIOReadWarningListener((src, warning) -> {
            warnings.add(warning);
            // Missing data is fatal here (Pillow refuses truncated JPEGs): stop before libjpeg decodes the rest of
            // the image from nothing. Throwing out of the listener unwinds libjpeg at once (abort() would only be
            // seen between output rows, after every progressive scan has been run over the whole image).
            if (isTruncationWarning(warning)) throw new JpegTruncated();
        });
        try (ImageInputStream in = stream(bytes, budget)) {
            reader.setInput(in, true, false);
            budget.watch(reader);
            checkSize(name, Format.JPEG, reader.getWidth(0), reader.getHeight(0));
            int components = JpegHeaders.componentCount(bytes);
            if (components != 1 && components != 3 && components != 4) {
                throw new ImageDecodeException(name, "JPEG with " + components + " colour components is not supported");
            }
            // The raw decoded components (libjpeg's IDCT and upsampling, no colour conversion): the JDK's read()
            // would apply an embedded ICC profile, which Pillow ignores.
            Raster raw;
            try {
                raw = reader.readRaster(0, null);
            } catch (JpegTruncated | IOException e) {
                checkNotStopped(budget);
                if (!(e instanceof JpegTruncated) && !(e.getCause() instanceof JpegTruncated)) throw e;
                raw = null;
            }
            checkNotStopped(budget);
            failOnTruncation(name, warnings);
            RgbImage out;
            if (components == 4) {
                // Pillow opens 4-component JPEGs as CMYK with raw mode "CMYK;I" (Adobe inverted), whatever the markers.
                out = cmykJpegToRgb(raw, JpegHeaders.adobeTransform(bytes) == 2, budget);
            } else {
                out = jpegToRgb(raw, components == 3 && JpegHeaders.threeComponentIsYcc(bytes), budget);
            }
            return out;
        } finally {
            reader.dispose();
        }
    }

    /**
     * Read parameters asking for the reader's raw image type: a destination in the colour space of an embedded ICC
     * profile means no colour conversion (Pillow ignores ICC profiles); with the default sRGB destination the JDK
     * JPEG and TwelveMonkeys readers would convert.
     */
    private static ImageReadParam rawDestination(ImageReader reader) throws IOException {
        ImageReadParam param = reader.getDefaultReadParam();
        ImageTypeSpecifier raw = reader.getRawImageType(0);
        if (raw != null) {
            param.setDestinationType(raw);
        }
        return param;
    }

    /** Raised from the warning listener when libjpeg reports missing data; reported as a truncated JPEG. */
    private static final class JpegTruncated extends RuntimeException {
        JpegTruncated() {
            super("truncated", null, false, false);
        }
    }

    private static boolean isTruncationWarning(String warning) {
        String lw = warning.toLowerCase(Locale.ROOT);
        return lw.contains("premature end") || lw.contains("truncated");
    }

    /** libjpeg only warns about missing data; Pillow reports "image file is truncated". */
    private static void failOnTruncation(String name, List<String> warnings) {
        for (String w : warnings) {
            if (isTruncationWarning(w)) {
                List<String> plain = warnings.stream().filter(ImageDecoder::isPlainText).distinct().toList();
                throw new ImageDecodeException(name, "JPEG file is truncated"
                        + (plain.isEmpty() ? "" : " (" + String.join("; ", plain) + ")"));
            }
        }
    }

    /** Gray, RGB or YCbCr components to RGB, with libjpeg's fixed-point {@code ycc_rgb_convert}. */
    private static RgbImage jpegToRgb(Raster raw, boolean ycc, DecodeBudget budget) {
        int w = raw.getWidth();
        int h = raw.getHeight();
        int bands = raw.getNumBands();
        byte[] out = new byte[w * h * 3];
        int[] px = new int[bands];
        int o = 0;
        for (int y = 0; y < h; y++) {
            budget.poll();
            for (int x = 0; x < w; x++) {
                raw.getPixel(raw.getMinX() + x, raw.getMinY() + y, px);
                if (bands == 1) {
                    out[o++] = (byte) px[0];
                    out[o++] = (byte) px[0];
                    out[o++] = (byte) px[0];
                } else if (ycc) {
                    int yy = px[0], cb = px[1], cr = px[2];
                    out[o++] = (byte) clamp8(yy + LibjpegYcc.crToR(cr));
                    out[o++] = (byte) clamp8(yy + LibjpegYcc.cbCrToG(cb, cr));
                    out[o++] = (byte) clamp8(yy + LibjpegYcc.cbToB(cb));
                } else {
                    out[o++] = (byte) px[0];
                    out[o++] = (byte) px[1];
                    out[o++] = (byte) px[2];
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    private static RgbImage cmykJpegToRgb(Raster raw, boolean ycck, DecodeBudget budget) {
        int w = raw.getWidth();
        int h = raw.getHeight();
        byte[] out = new byte[w * h * 3];
        int[] px = new int[raw.getNumBands()];
        int o = 0;
        for (int y = 0; y < h; y++) {
            budget.poll();
            for (int x = 0; x < w; x++) {
                raw.getPixel(raw.getMinX() + x, raw.getMinY() + y, px);
                int c0 = px[0], c1 = px[1], c2 = px[2], k = px[3];
                if (ycck) {
                    // libjpeg's ycck_cmyk_convert: YCbCr -> RGB in fixed point, then C = 255 - R etc.; K unchanged.
                    int yy = c0, cb = c1, cr = c2;
                    c0 = 255 - clamp8(yy + LibjpegYcc.crToR(cr));
                    c1 = 255 - clamp8(yy + LibjpegYcc.cbCrToG(cb, cr));
                    c2 = 255 - clamp8(yy + LibjpegYcc.cbToB(cb));
                }
                // "CMYK;I": Pillow inverts every stored component.
                out[o++] = (byte) cmykToRgbChannel(255 - c0, 255 - k);
                out[o++] = (byte) cmykToRgbChannel(255 - c1, 255 - k);
                out[o++] = (byte) cmykToRgbChannel(255 - c2, 255 - k);
            }
        }
        return new RgbImage(w, h, out);
    }

    /** Pillow's {@code cmyk2rgb} for one channel: {@code CLIP8(nk - MULDIV255(c, nk))} with {@code nk = 255 - k}. */
    static int cmykToRgbChannel(int c, int k) {
        int nk = 255 - k;
        int tmp = c * nk + 128;
        int mul = ((tmp >> 8) + tmp) >> 8;
        return clamp8(nk - mul);
    }

    private static int clamp8(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }

    // ---------------------------------------------------------------------------------------------------------
    // GIF: Pillow's first frame lives on the logical screen (grown to fit the frame), pixels outside the frame
    // hold the transparency index if the frame has one, else index 0; the frame's palette maps everything.

    private RgbImage decodeGif(byte[] bytes, String name, DecodeBudget budget) throws IOException {
        ImageReader reader = reader(name, "gif", null);
        try (ImageInputStream in = stream(bytes, budget)) {
            reader.setInput(in, false, false);
            budget.watch(reader);
            int screenW = 0;
            int screenH = 0;
            IIOMetadata streamMeta = reader.getStreamMetadata();
            if (streamMeta != null) {
                Node lsd = child(streamMeta.getAsTree("javax_imageio_gif_stream_1.0"), "LogicalScreenDescriptor");
                screenW = intAttr(lsd, "logicalScreenWidth", 0);
                screenH = intAttr(lsd, "logicalScreenHeight", 0);
            }
            // Header-only checks on the logical screen and the first frame's descriptor.
            checkSize(name, Format.GIF, Math.max(screenW, 1), Math.max(screenH, 1));
            IIOMetadata frameMeta = reader.getImageMetadata(0);
            Node tree = frameMeta.getAsTree("javax_imageio_gif_image_1.0");
            Node desc = child(tree, "ImageDescriptor");
            int left = intAttr(desc, "imageLeftPosition", 0);
            int top = intAttr(desc, "imageTopPosition", 0);
            int fw = intAttr(desc, "imageWidth", 0);
            int fh = intAttr(desc, "imageHeight", 0);
            int canvasW = Math.max(screenW, left + fw);
            int canvasH = Math.max(screenH, top + fh);
            checkSize(name, Format.GIF, canvasW, canvasH);
            Node gce = child(tree, "GraphicControlExtension");
            int fill = 0;
            if (gce != null && "TRUE".equalsIgnoreCase(attr(gce, "transparentColorFlag"))) {
                fill = intAttr(gce, "transparentColorIndex", 0);
            }
            BufferedImage frame = reader.read(0);
            checkNotStopped(budget);
            if (!(frame.getColorModel() instanceof IndexColorModel palette)) {
                return toRgb(frame, budget);
            }
            if (left == 0 && top == 0 && frame.getWidth() == canvasW && frame.getHeight() == canvasH) {
                return toRgb(frame, budget);
            }
            byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(canvasW, canvasH), 3)];
            Raster raster = frame.getRaster();
            byte[] colours = new byte[256 * 3]; // the palette as RGB triples, missing entries black
            for (int i = 0; i < 256; i++) putPaletteColour(palette, i, colours, 3 * i);
            int fillIndex = Math.min(fill, 255) * 3;
            int frameW = frame.getWidth();
            int frameH = frame.getHeight();
            int[] row = new int[frameW];
            for (int y = 0; y < canvasH; y++) {
                budget.poll();
                int fy = y - top;
                boolean frameRow = fy >= 0 && fy < frameH;
                if (frameRow) raster.getSamples(0, fy, frameW, 1, 0, row);
                int o = y * canvasW * 3;
                for (int x = 0; x < canvasW; x++, o += 3) {
                    int fx = x - left;
                    int c = frameRow && fx >= 0 && fx < frameW ? Math.min(row[fx], 255) * 3 : fillIndex;
                    out[o] = colours[c];
                    out[o + 1] = colours[c + 1];
                    out[o + 2] = colours[c + 2];
                }
            }
            return new RgbImage(canvasW, canvasH, out);
        } finally {
            reader.dispose();
        }
    }

    private static Node child(Node parent, String name) {
        if (parent == null) return null;
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (name.equals(n.getNodeName())) return n;
        }
        return null;
    }

    private static String attr(Node node, String name) {
        if (node == null) return null;
        NamedNodeMap attrs = node.getAttributes();
        Node a = attrs == null ? null : attrs.getNamedItem(name);
        return a == null ? null : a.getNodeValue();
    }

    private static int intAttr(Node node, String name, int dflt) {
        String v = attr(node, name);
        if (v == null) return dflt;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    private static void putPaletteColour(IndexColorModel palette, int index, byte[] out, int o) {
        if (index < palette.getMapSize()) {
            out[o] = (byte) palette.getRed(index);
            out[o + 1] = (byte) palette.getGreen(index);
            out[o + 2] = (byte) palette.getBlue(index);
        } else {
            // Pillow's palettes are 256 entries; entries missing from the file are black.
            out[o] = 0;
            out[o + 1] = 0;
            out[o + 2] = 0;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // BufferedImage -> Pillow's convert("RGB")

    /**
     * Reads the decoded samples directly (never {@code getRGB}, which would apply colour management) and maps them
     * the way Pillow's modes convert to RGB.
     */
    static RgbImage toRgb(BufferedImage image, DecodeBudget budget) {
        int w = image.getWidth();
        int h = image.getHeight();
        Raster raster = image.getRaster();
        ColorModel cm = image.getColorModel();
        byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        int bands = raster.getNumBands();
        int[] px = new int[bands];
        int minX = raster.getMinX();
        int minY = raster.getMinY();

        if (cm instanceof IndexColorModel palette) {
            int o = 0;
            for (int y = 0; y < h; y++) {
                budget.poll();
                for (int x = 0; x < w; x++) {
                    putPaletteColour(palette, raster.getSample(minX + x, minY + y, 0), out, o);
                    o += 3;
                }
            }
            return new RgbImage(w, h, out);
        }
        if (cm instanceof DirectColorModel direct) {
            // Packed pixels (e.g. 16-bit BMP): Pillow's unpackers scale an n-bit field v to v * 255 / (2^n - 1),
            // rounding down.
            int[] masks = {direct.getRedMask(), direct.getGreenMask(), direct.getBlueMask()};
            Object data = null;
            int o = 0;
            for (int y = 0; y < h; y++) {
                budget.poll();
                for (int x = 0; x < w; x++) {
                    data = raster.getDataElements(minX + x, minY + y, data);
                    int pixel = packedValue(data);
                    for (int c = 0; c < 3; c++) {
                        out[o++] = (byte) scaleField(pixel, masks[c]);
                    }
                }
            }
            return new RgbImage(w, h, out);
        }

        int[] sizes = cm.getComponentSize();
        ColorSpace cs = cm.getColorSpace();
        boolean gray = cs.getType() == ColorSpace.TYPE_GRAY || bands <= 2;
        boolean cmyk = cs.getType() == ColorSpace.TYPE_CMYK && bands >= 4;
        int o = 0;
        for (int y = 0; y < h; y++) {
            budget.poll();
            for (int x = 0; x < w; x++) {
                raster.getPixel(minX + x, minY + y, px);
                if (gray) {
                    int v = grayTo8(px[0], sizes[0], bands);
                    out[o++] = (byte) v;
                    out[o++] = (byte) v;
                    out[o++] = (byte) v;
                } else if (cmyk) {
                    int k = to8(px[3], sizes[3]);
                    out[o++] = (byte) cmykToRgbChannel(to8(px[0], sizes[0]), k);
                    out[o++] = (byte) cmykToRgbChannel(to8(px[1], sizes[1]), k);
                    out[o++] = (byte) cmykToRgbChannel(to8(px[2], sizes[2]), k);
                } else {
                    out[o++] = (byte) to8(px[0], sizes[0]);
                    out[o++] = (byte) to8(px[1], sizes[1]);
                    out[o++] = (byte) to8(px[2], sizes[2]);
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    private static int packedValue(Object data) {
        return switch (data) {
            case int[] a -> a[0];
            case short[] a -> a[0] & 0xFFFF;
            case byte[] a -> a[0] & 0xFF;
            default -> throw new IllegalStateException("unexpected packed pixel storage " + data.getClass());
        };
    }

    private static int scaleField(int pixel, int mask) {
        if (mask == 0) return 0;
        int shift = Integer.numberOfTrailingZeros(mask);
        int max = mask >>> shift;
        int v = (pixel & mask) >>> shift;
        return max == 255 ? v : (int) ((long) v * 255 / max);
    }

    /**
     * Gray samples: 8-bit as is; a lone 16-bit gray band is Pillow mode "I" (PNG) / "I;16" (TIFF), whose conversion
     * to RGB clips at 255; 16-bit gray with alpha is mode "LA" from raw "LA;16B", i.e. the high byte.
     */
    private static int grayTo8(int v, int bits, int bands) {
        if (bits == 16 && bands == 1) return Math.min(v, 255);
        return to8(v, bits);
    }

    /** Samples wider than 8 bits keep their high byte (Pillow's ";16B" raw modes); narrower ones are scaled. */
    private static int to8(int v, int bits) {
        if (bits == 8) return v;
        if (bits > 8) return v >>> (bits - 8);
        int max = (1 << bits) - 1;
        return v * 255 / max;
    }
}
