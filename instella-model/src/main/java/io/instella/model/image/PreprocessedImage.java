package io.instella.model.image;

/**
 * The vision-tower input for one image.
 *
 * @param originalWidth  the decoded image's width (what the model's {@code image_sizes} carries)
 * @param originalHeight the decoded image's height
 * @param tiles          T: 1 base + gridWidth * gridHeight tiles for anyres, 1 otherwise
 * @param pixelValues    float32 [T, 3, S, S] (S = crop size, 336), tiles in order [base, grid tiles row-major]
 * @param gridWidth      anyres tiles across (0 without an anyres grid)
 * @param gridHeight     anyres tiles down (0 without an anyres grid)
 */
public record PreprocessedImage(int originalWidth, int originalHeight, int tiles, float[] pixelValues,
                                int gridWidth, int gridHeight) {

    public PreprocessedImage {
        if (tiles < 1 || pixelValues == null || pixelValues.length % (tiles * 3) != 0) {
            throw new IllegalArgumentException("pixel values do not hold " + tiles + " RGB tiles");
        }
    }

    /** Side S of each tile. */
    public int tileSize() {
        return (int) Math.round(Math.sqrt(pixelValues.length / (3.0 * tiles)));
    }

    @Override
    public String toString() {
        return "PreprocessedImage[" + originalWidth + "x" + originalHeight + ", tiles=" + tiles + ", grid="
                + gridWidth + "x" + gridHeight + "]";
    }
}
