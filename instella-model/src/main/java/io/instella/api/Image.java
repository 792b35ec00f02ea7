package io.instella.api;

import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A decoded image to attach to a user turn. Decoding happens here, so a bad file fails at once, naming the file.
 * Images are decoded as {@code PIL.Image.open(f).convert("RGB")} decodes them (JPEG, PNG, GIF, BMP, TIFF, WebP;
 * alpha dropped, EXIF orientation not applied, as in the reference).
 *
 * <p>An image is encoded by the vision tower once per conversation: attach the same {@code Image} object
 * to later questions about it, or keep it in the conversation, and it is not encoded again.
 */
public final class Image {
    private final String name;
    private final RgbImage pixels;

    private Image(String name, RgbImage pixels) {
        this.name = name;
        this.pixels = pixels;
    }

    /**
     * Reads and decodes an image file.
     *
     * @param file the image file
     * @return the decoded image
     * @throws InstellaApiException when the file cannot be read or is not an image of a supported format
     */
    public static Image fromPath(Path file) {
        Objects.requireNonNull(file, "file");
        try {
            return new Image(file.toString(), ImageDecoder.defaults().decode(file));
        } catch (RuntimeException e) {
            throw Errors.wrap(e);
        }
    }

    /**
     * Decodes an encoded image held in memory (the bytes of a JPEG, PNG, ... file).
     *
     * @param encoded       the file's bytes
     * @param nameForErrors what to call the image in error messages (null: {@code <image bytes>})
     * @return the decoded image
     * @throws InstellaApiException when the bytes are not an image of a supported format
     */
    public static Image fromBytes(byte[] encoded, String nameForErrors) {
        Objects.requireNonNull(encoded, "encoded");
        String name = nameForErrors != null ? nameForErrors : "<image bytes>";
        try {
            return new Image(name, ImageDecoder.defaults().decode(encoded, name));
        } catch (RuntimeException e) {
            throw Errors.wrap(e);
        }
    }

    /**
     * The file name, or the name given for in-memory bytes.
     *
     * @return the name
     */
    public String name() { return name; }

    /**
     * The width in pixels.
     *
     * @return the width
     */
    public int width() { return pixels.width(); }

    /**
     * The height in pixels.
     *
     * @return the height
     */
    public int height() { return pixels.height(); }

    RgbImage pixels() { return pixels; }

    @Override
    public String toString() { return name + " (" + width() + "x" + height() + ")"; }
}
