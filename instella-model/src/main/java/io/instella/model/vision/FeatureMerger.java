package io.instella.model.vision;

/**
 * LLaVA-NeXT's {@code spatial_unpad} merge of one image's projected tile features (spec §4.5): the base
 * tile's rows first (no newline), then the grid tiles stitched into one feature map, cut to the window
 * that {@code unpad_image} keeps, with the {@code image_newline} vector after every row.
 */
public final class FeatureMerger {
    private FeatureMerger() {}

    /**
     * @param features  projected features [1 + gridW*gridH, side*side, dim] (base tile first, then grid tiles row-major)
     * @param side      patches per tile side (24)
     * @param rowStart  first kept row of the stitched (gridH*side) × (gridW*side) map, and {@code rows} of them
     * @param colStart  first kept column, and {@code cols} of them
     * @param newline   the learned image_newline vector [dim], or null for no newlines
     * @return merged rows [side*side + rows*(cols + (newline != null ? 1 : 0)), dim]
     */
    public static float[] spatialUnpad(float[] features, int dim, int side, int gridW, int gridH,
                                       int rowStart, int rows, int colStart, int cols, float[] newline) {
        int perTile = side * side;
        int expectedTiles = 1 + gridW * gridH;
        if (features.length != expectedTiles * perTile * dim) {
            throw new IllegalArgumentException("features hold " + features.length / Math.max(1, perTile * dim)
                    + " tiles, the layout needs " + expectedTiles);
        }
        if (rowStart < 0 || colStart < 0 || rowStart + rows > gridH * side || colStart + cols > gridW * side) {
            throw new IllegalArgumentException("unpad window out of the feature map");
        }
        int width = cols + (newline != null ? 1 : 0);
        float[] out = new float[(perTile + rows * width) * dim];
        System.arraycopy(features, 0, out, 0, perTile * dim);
        int o = perTile * dim;
        for (int y = rowStart; y < rowStart + rows; y++) {
            int tileRow = y / side, r = y % side;
            for (int x = colStart; x < colStart + cols; x++) {
                int tile = 1 + tileRow * gridW + x / side;
                int token = r * side + x % side;
                System.arraycopy(features, (tile * perTile + token) * dim, out, o, dim);
                o += dim;
            }
            if (newline != null) {
                System.arraycopy(newline, 0, out, o, dim);
                o += dim;
            }
        }
        return out;
    }

    /** Single-tile inputs ({@code pad}, or one tile): the tile's rows, then one newline if present. */
    public static float[] single(float[] features, int tokens, int dim, float[] newline) {
        float[] out = new float[(tokens + (newline != null ? 1 : 0)) * dim];
        System.arraycopy(features, 0, out, 0, tokens * dim);
        if (newline != null) System.arraycopy(newline, 0, out, tokens * dim, dim);
        return out;
    }
}
