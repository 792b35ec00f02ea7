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

    /**
     * The general grid merge: the kept window, resized bilinearly to outRows × outCols when they differ
     * (anyres_max_N: PyTorch {@code F.interpolate(mode="bilinear", align_corners=False)}), with newlines.
     */
    public static float[] spatial(float[] features, int dim, int side, int gridW, int gridH, int rowStart, int rows,
                                  int colStart, int cols, int outRows, int outCols, float[] newline) {
        if (outRows == rows && outCols == cols) {
            return spatialUnpad(features, dim, side, gridW, gridH, rowStart, rows, colStart, cols, newline);
        }
        float[] window = spatialUnpad(features, dim, side, gridW, gridH, rowStart, rows, colStart, cols, null);
        int perTile = side * side;
        int width = outCols + (newline != null ? 1 : 0);
        float[] out = new float[(perTile + outRows * width) * dim];
        System.arraycopy(window, 0, out, 0, perTile * dim);
        int base = perTile * dim;
        float sy = (float) rows / outRows, sx = (float) cols / outCols;
        int o = base;
        for (int y = 0; y < outRows; y++) {
            float fy = Math.max(0f, (y + 0.5f) * sy - 0.5f);
            int y0 = Math.min((int) fy, rows - 1), y1 = Math.min(y0 + 1, rows - 1);
            float ly = fy - y0;
            for (int x = 0; x < outCols; x++) {
                float fx = Math.max(0f, (x + 0.5f) * sx - 0.5f);
                int x0 = Math.min((int) fx, cols - 1), x1 = Math.min(x0 + 1, cols - 1);
                float lx = fx - x0;
                int a = base + (y0 * cols + x0) * dim, b = base + (y0 * cols + x1) * dim;
                int c = base + (y1 * cols + x0) * dim, d = base + (y1 * cols + x1) * dim;
                for (int k = 0; k < dim; k++) {
                    out[o + k] = (1 - ly) * ((1 - lx) * window[a + k] + lx * window[b + k])
                            + ly * ((1 - lx) * window[c + k] + lx * window[d + k]);
                }
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

    /**
     * Where each merged row of an image comes from, for the merge's backward: the index of its projected feature row
     * (tile · perTile + token), or -1 for an {@code image_newline} row. Computed by running the merge itself on row
     * indices (exact: indices stay far below 2^24), so forward and backward cannot disagree.
     *
     * @throws UnsupportedOperationException for anyres_max layouts, whose bilinear resize is not a row selection
     */
    public static int[] sourceRows(io.instella.model.image.AnyresGeometry.UnpadLayout layout, int side, int perTile) {
        float[] index = new float[layout.tiles() * perTile];
        for (int i = 0; i < index.length; i++) index[i] = i;
        float[] newline = layout.newline() ? new float[]{-1f} : null;
        float[] merged = switch (layout.kind()) {
            case FLAT -> index;
            case SINGLE -> single(index, perTile, 1, newline);
            case GRID -> {
                if (layout.outRows() != layout.rows() || layout.outCols() != layout.cols()) {
                    throw new UnsupportedOperationException("training with anyres_max (a resized feature window) is not supported; use anyres");
                }
                yield spatialUnpad(index, 1, side, layout.gridW(), layout.gridH(), layout.rowStart(), layout.rows(),
                        layout.colStart(), layout.cols(), newline);
            }
        };
        int[] rows = new int[merged.length];
        for (int i = 0; i < rows.length; i++) rows[i] = (int) merged[i];
        return rows;
    }
}
