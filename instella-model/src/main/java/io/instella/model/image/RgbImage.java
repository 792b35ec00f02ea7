package io.instella.model.image;

/**
 * An 8-bit RGB image, rows top to bottom, pixels interleaved {@code R,G,B} (HWC), exactly what
 * {@code numpy.array(PIL_image.convert("RGB"))} holds.
 *
 * @param width  pixels per row, at least 1
 * @param height rows, at least 1
 * @param rgb    {@code width * height * 3} bytes, unsigned values
 */
public record RgbImage(int width, int height, byte[] rgb) {

    public RgbImage {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size must be at least 1x1, got " + width + "x" + height);
        }
        if (rgb == null || (long) width * height * 3 != rgb.length) {
            throw new IllegalArgumentException("an RGB image of " + width + "x" + height + " needs "
                    + ((long) width * height * 3) + " bytes, got " + (rgb == null ? "null" : rgb.length));
        }
    }

    /** An image of one colour (as {@code PIL.Image.new("RGB", size, (r, g, b))}). */
    public static RgbImage filled(int width, int height, int r, int g, int b) {
        byte[] px = new byte[Math.multiplyExact(Math.multiplyExact(width, height), 3)];
        if (r != 0 || g != 0 || b != 0) {
            for (int i = 0; i < px.length; i += 3) {
                px[i] = (byte) r;
                px[i + 1] = (byte) g;
                px[i + 2] = (byte) b;
            }
        }
        return new RgbImage(width, height, px);
    }

    /** Channel {@code c} (0 = R, 1 = G, 2 = B) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xFF;
    }

    /** {@code PIL.Image.crop((left, top, left + w, top + h))} for a box inside the image. */
    public RgbImage crop(int left, int top, int w, int h) {
        if (left < 0 || top < 0 || w < 1 || h < 1 || left + w > width || top + h > height) {
            throw new IllegalArgumentException("crop box (" + left + "," + top + "," + (left + w) + "," + (top + h)
                    + ") is not inside a " + width + "x" + height + " image");
        }
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            System.arraycopy(rgb, ((top + y) * width + left) * 3, out, y * w * 3, w * 3);
        }
        return new RgbImage(w, h, out);
    }

    /** Copies {@code src} into this image with its top-left corner at (x, y) ({@code PIL.Image.paste}, fully inside). */
    public void paste(RgbImage src, int x, int y) {
        if (x < 0 || y < 0 || x + src.width > width || y + src.height > height) {
            throw new IllegalArgumentException("a " + src.width + "x" + src.height + " image at (" + x + "," + y
                    + ") does not fit into " + width + "x" + height);
        }
        for (int row = 0; row < src.height; row++) {
            System.arraycopy(src.rgb, row * src.width * 3, rgb, ((y + row) * width + x) * 3, src.width * 3);
        }
    }

    public RgbImage copy() {
        return new RgbImage(width, height, rgb.clone());
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}
