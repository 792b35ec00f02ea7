package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The non-anyres modes and the CLIP processor's arithmetic (the anyres path is checked against goldens). */
class ImagePreprocessorTest {

    private static RgbImage gradient(int w, int h) {
        byte[] px = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[(y * w + x) * 3] = (byte) (x * 255 / Math.max(1, w - 1));
                px[(y * w + x) * 3 + 1] = (byte) (y * 255 / Math.max(1, h - 1));
                px[(y * w + x) * 3 + 2] = (byte) ((x + y) & 0xFF);
            }
        }
        return new RgbImage(w, h, px);
    }

    /** float32(float64(v) * (1/255)), then (x - float32(mean)) / float32(std) in float32. */
    private static float normalised(int v, int c) {
        float x = (float) (v * (1.0 / 255));
        return (x - (float) ImageProcessingConfig.CLIP_MEAN[c]) / (float) ImageProcessingConfig.CLIP_STD[c];
    }

    private static void assertTileEquals(float[] values, int tile, RgbImage expected) {
        int s = 336;
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < s; y++) {
                for (int x = 0; x < s; x++) {
                    float v = values[((tile * 3 + c) * s + y) * s + x];
                    if (v != normalised(expected.get(x, y, c), c)) {
                        throw new AssertionError("tile " + tile + " channel " + c + " (" + x + "," + y + "): " + v
                                + " != " + normalised(expected.get(x, y, c), c));
                    }
                }
            }
        }
    }

    @Test
    void squareModeResizesTheShortestEdgeWithTruncationAndCropsTheCentre() {
        RgbImage image = gradient(700, 349); // long side: int(336 * 700 / 349) = 673
        PreprocessedImage out = new ImagePreprocessor(ImageProcessingConfig.clipDefaults("square", List.of()))
                .preprocess(image);
        assertThat(out.tiles()).isEqualTo(1);
        assertThat(out.pixelValues()).hasSize(3 * 336 * 336);
        assertThat(new int[] {out.originalWidth(), out.originalHeight(), out.gridWidth(), out.gridHeight()})
                .containsExactly(700, 349, 0, 0);
        RgbImage resized = PillowResize.resize(image, 673, 336);
        assertTileEquals(out.pixelValues(), 0, resized.crop((673 - 336) / 2, 0, 336, 336));
    }

    @Test
    void padModeExpandsToASquareOnTheMeanColour() {
        ImagePreprocessor p = new ImagePreprocessor(ImageProcessingConfig.clipDefaults("pad", List.of()));
        RgbImage wide = gradient(40, 10);
        RgbImage square = p.expandToSquare(wide);
        assertThat(new int[] {square.width(), square.height()}).containsExactly(40, 40);
        assertThat(new int[] {square.get(0, 0, 0), square.get(0, 0, 1), square.get(0, 0, 2)})
                .containsExactly(122, 116, 104);
        assertThat(square.get(7, 15, 0)).isEqualTo(wide.get(7, 0, 0)); // pasted at (0, (40 - 10) // 2)
        assertThat(square.get(7, 39, 2)).isEqualTo(104);
        RgbImage tall = gradient(9, 20);
        assertThat(p.expandToSquare(tall).get(5, 3, 1)).isEqualTo(tall.get(0, 3, 1)); // at ((20 - 9) // 2, 0)

        PreprocessedImage out = p.preprocess(wide);
        assertThat(out.tiles()).isEqualTo(1);
        assertTileEquals(out.pixelValues(), 0, PillowResize.resize(square, 336, 336));
    }

    @Test
    void anyresTilesAreBaseSquashThenRowMajorCropsOfThePaddedCanvas() {
        ImagePreprocessor p = new ImagePreprocessor(ImageProcessingConfig.instellaDefaults());
        RgbImage image = gradient(500, 260); // best 672x336 -> 2x1 grid, resized to 647x336 pasted at x = 12
        PreprocessedImage out = p.preprocess(image);
        assertThat(new int[] {out.tiles(), out.gridWidth(), out.gridHeight()}).containsExactly(3, 2, 1);
        assertTileEquals(out.pixelValues(), 0, PillowResize.resize(image, 336, 336));
        RgbImage canvas = ImagePreprocessor.resizeAndPad(image, 672, 336);
        assertThat(canvas.get(11, 100, 0)).isZero();
        assertTileEquals(out.pixelValues(), 1, canvas.crop(0, 0, 336, 336));
        assertTileEquals(out.pixelValues(), 2, canvas.crop(336, 0, 336, 336));
        // anyres_max_N tiles exactly like anyres.
        PreprocessedImage max = new ImagePreprocessor(ImageProcessingConfig.clipDefaults("anyres_max_9",
                ImageProcessingConfig.INSTELLA_PINPOINTS)).preprocess(image);
        assertThat(max.pixelValues()).isEqualTo(out.pixelValues());
    }
}
