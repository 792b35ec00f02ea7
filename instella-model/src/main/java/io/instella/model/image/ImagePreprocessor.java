package io.instella.model.image;

import java.util.ArrayList;
import java.util.List;

/**
 * Instella's {@code process_images} for one decoded image, bit-faithful to the reference (Pillow BICUBIC resizes,
 * transformers' {@code CLIPImageProcessor} arithmetic):
 * <ul>
 *   <li>anyres / anyres_max_N: {@code select_best_resolution}, {@code resize_and_pad_image} onto black,
 *       {@code divide_to_patches}; base tile = the whole image squashed to shortest-edge²; [base] + tiles;</li>
 *   <li>pad: {@code expand2square} with {@code int(mean * 255)} as background, then the CLIP processor;</li>
 *   <li>square: the CLIP processor alone.</li>
 * </ul>
 * The CLIP processor per tile: shortest-edge resize ({@code int(edge * long / short)}) if the size changes, centre
 * crop with floor offsets, {@code float32(float64(p) * rescale)}, then {@code (x - mean) / std} in float32, CHW.
 */
public final class ImagePreprocessor {

    private final ImageProcessingConfig config;
    private final float[] mean;
    private final float[] std;

    public ImagePreprocessor(ImageProcessingConfig config) {
        this.config = config;
        this.mean = config.mean();
        this.std = config.std();
    }

    public ImageProcessingConfig config() {
        return config;
    }

    public PreprocessedImage preprocess(RgbImage image) {
        String mode = config.aspectRatioMode();
        int s = config.cropSize();
        if (AnyresGeometry.isAnyres(mode)) {
            int[] best = AnyresGeometry.selectBestResolution(image.width(), image.height(), config.gridPinpoints());
            RgbImage canvas = resizeAndPad(image, best[0], best[1]);
            int gridW = best[0] / s;
            int gridH = best[1] / s;
            List<RgbImage> tiles = new ArrayList<>(1 + gridW * gridH);
            int edge = config.shortestEdge();
            tiles.add(PillowResize.resize(image, edge, edge)); // the reference's base "squash" (not padded)
            for (int y = 0; y < best[1]; y += s) {
                for (int x = 0; x < best[0]; x += s) {
                    tiles.add(canvas.crop(x, y, s, s));
                }
            }
            float[] out = new float[tiles.size() * 3 * s * s];
            for (int t = 0; t < tiles.size(); t++) {
                clipProcess(tiles.get(t), out, t * 3 * s * s);
            }
            return new PreprocessedImage(image.width(), image.height(), tiles.size(), out, gridW, gridH);
        }
        RgbImage input = mode.equals("pad") ? expandToSquare(image) : image;
        float[] out = new float[3 * s * s];
        clipProcess(input, out, 0);
        return new PreprocessedImage(image.width(), image.height(), 1, out, 0, 0);
    }

    /** {@code resize_and_pad_image}: BICUBIC resize to the ceil-scaled size, pasted centred on black. */
    static RgbImage resizeAndPad(RgbImage image, int targetW, int targetH) {
        int[] g = AnyresGeometry.resizeAndPadSize(image.width(), image.height(), targetW, targetH);
        RgbImage resized = PillowResize.resize(image, g[0], g[1]);
        RgbImage canvas = RgbImage.filled(targetW, targetH, 0, 0, 0);
        canvas.paste(resized, g[2], g[3]);
        return canvas;
    }

    /** {@code expand2square(image, tuple(int(x * 255) for x in image_mean))}. */
    RgbImage expandToSquare(RgbImage image) {
        int w = image.width();
        int h = image.height();
        if (w == h) return image;
        int side = Math.max(w, h);
        RgbImage canvas = RgbImage.filled(side, side, background(0), background(1), background(2));
        if (w > h) {
            canvas.paste(image, 0, (w - h) / 2);
        } else {
            canvas.paste(image, (h - w) / 2, 0);
        }
        return canvas;
    }

    private int background(int c) {
        return (int) ((double) mean[c] * 255);
    }

    /** CLIPImageProcessor.preprocess for one image, written as CHW floats at {@code out[offset...]}. */
    void clipProcess(RgbImage image, float[] out, int offset) {
        int s = config.cropSize();
        int edge = config.shortestEdge();
        int w = image.width();
        int h = image.height();
        RgbImage resized = image;
        int shortSide = Math.min(w, h);
        int longSide = Math.max(w, h);
        int newLong = (int) ((double) ((long) edge * longSide) / shortSide);
        int newW = w <= h ? edge : newLong;
        int newH = w <= h ? newLong : edge;
        if (newW != w || newH != h) {
            resized = PillowResize.resize(image, newW, newH);
        }
        int top = Math.floorDiv(resized.height() - s, 2);
        int left = Math.floorDiv(resized.width() - s, 2);
        byte[] px = resized.rgb();
        int rw = resized.width();
        double rescale = config.rescaleFactor();
        // 256-entry tables: the per-channel result depends only on the byte value.
        float[][] lut = new float[3][256];
        for (int c = 0; c < 3; c++) {
            for (int v = 0; v < 256; v++) {
                float scaled = (float) (v * rescale);
                lut[c][v] = (scaled - mean[c]) / std[c];
            }
        }
        int plane = s * s;
        for (int y = 0; y < s; y++) {
            int src = ((top + y) * rw + left) * 3;
            int dst = offset + y * s;
            for (int x = 0; x < s; x++, src += 3) {
                out[dst + x] = lut[0][px[src] & 0xFF];
                out[dst + plane + x] = lut[1][px[src + 1] & 0xFF];
                out[dst + 2 * plane + x] = lut[2][px[src + 2] & 0xFF];
            }
        }
    }
}
