package io.instella.model.image;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The integer geometry of LLaVA-NeXT "anyres" as Instella's reference computes it, in IEEE double with the same
 * operation order (so the truncations and the ceil agree bit for bit): {@code select_best_resolution},
 * {@code resize_and_pad_image}'s size, and the layout of the image features that
 * {@code prepare_inputs_labels_for_multimodal} splices into the language model ({@code unpad_image} with its
 * {@code int()} and {@code (cur - new) // 2} quirks, {@code image_newline} after every row, the anyres_max
 * down-scaling size). No model needed.
 */
public final class AnyresGeometry {
    private AnyresGeometry() {}

    /** CLIP ViT-L/14-336 input tile size in pixels. */
    public static final int CLIP_TILE = 336;

    private static final Pattern ANYRES_MAX = Pattern.compile("anyres_max_(\\d+)");

    /** How the features of one image become language-model rows. */
    public enum Kind {
        /**
         * Base tile features (patchesPerSide² rows, raster order, no newline) followed by the window
         * [rowStart, rowStart + rows) × [colStart, colStart + cols) of the stitched (fullRows × fullCols) grid-tile
         * feature map, where feature (y, x) comes from tile (y / p, x / p) (tiles row-major after the base), patch
         * (y % p, x % p). With {@code newline}, every row is followed by {@code image_newline}. For anyres_max the
         * window is first resized bilinearly (align_corners = False) to outRows × outCols.
         */
        GRID,
        /** One tile: its patchesPerSide² feature rows, plus one {@code image_newline} row if {@code newline}. */
        SINGLE,
        /** Every tile's feature rows concatenated in tile order (base first), nothing added. */
        FLAT
    }

    /**
     * Where each image feature row comes from.
     *
     * @param gridW          tiles across (0 without an anyres grid)
     * @param gridH          tiles down (0 without an anyres grid)
     * @param fullRows       rows of the stitched grid feature map, gridH * patchesPerSide
     * @param fullCols       columns of the stitched grid feature map, gridW * patchesPerSide
     * @param rowStart       first kept row of the stitched map
     * @param rows           kept rows
     * @param colStart       first kept column
     * @param cols           kept columns
     * @param numImageTokens rows spliced into the LM sequence for this image
     * @param outRows        rows after anyres_max down-scaling (= rows otherwise)
     * @param outCols        columns after anyres_max down-scaling (= cols otherwise)
     * @param kind           the merge shape
     * @param newline        whether {@code image_newline} rows are appended (after each row; once for SINGLE)
     * @param tiles          tiles the vision tower sees, base included
     */
    public record UnpadLayout(int gridW, int gridH, int fullRows, int fullCols, int rowStart, int rows,
                              int colStart, int cols, int numImageTokens, int outRows, int outCols, Kind kind,
                              boolean newline, int tiles) {

        /** Whether the kept window was resized (anyres_max with more than 1.1x the patch budget). */
        public boolean interpolated() {
            return outRows != rows || outCols != cols;
        }
    }

    /**
     * {@code select_best_resolution((w, h), pinpoints)}: the pinpoint (width, height) that keeps the most original
     * pixels after an aspect-preserving down-scale, then wastes the least area; ties keep the earlier pinpoint.
     *
     * An image so elongated that every candidate keeps 0 pixels still gets one: the 0 == 0 tie with finite waste
     * selects, as in the reference.
     *
     * @throws IllegalArgumentException if the list is empty
     */
    public static int[] selectBestResolution(int w, int h, List<int[]> pinpoints) {
        checkImageSize(w, h);
        if (pinpoints == null || pinpoints.isEmpty()) {
            throw new IllegalArgumentException("no grid pinpoints to choose from");
        }
        int[] best = null;
        long maxEffective = 0;
        double minWasted = Double.POSITIVE_INFINITY;
        for (int[] p : pinpoints) {
            int pw = p[0];
            int ph = p[1];
            double scale = Math.min((double) pw / w, (double) ph / h);
            long dw = (long) (w * scale);
            long dh = (long) (h * scale);
            long effective = Math.min(dw * dh, (long) w * h);
            long wasted = (long) pw * ph - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
                maxEffective = effective;
                minWasted = wasted;
                best = new int[] {pw, ph};
            }
        }
        return best;
    }

    /**
     * {@code resize_and_pad_image}'s geometry for an image of w × h on a canvas of targetW × targetH:
     * {newWidth, newHeight, pasteX, pasteY}. The scaled side uses {@code ceil}, capped by the canvas.
     */
    public static int[] resizeAndPadSize(int w, int h, int targetW, int targetH) {
        checkImageSize(w, h);
        double scaleW = (double) targetW / w;
        double scaleH = (double) targetH / h;
        int newW;
        int newH;
        if (scaleW < scaleH) {
            newW = targetW;
            newH = (int) Math.min(Math.ceil(h * scaleW), targetH);
        } else {
            newH = targetH;
            newW = (int) Math.min(Math.ceil(w * scaleH), targetW);
        }
        return new int[] {newW, newH, Math.floorDiv(targetW - newW, 2), Math.floorDiv(targetH - newH, 2)};
    }

    /** {@link #layout(int, int, List, int, int, String, String)} for CLIP's 336-pixel tiles. */
    public static UnpadLayout layout(int imageW, int imageH, List<int[]> pinpoints, int patchesPerSide,
                                     String aspectMode, String mergeType) {
        return layout(imageW, imageH, pinpoints, patchesPerSide, CLIP_TILE, aspectMode, mergeType);
    }

    /**
     * The feature layout for an image of imageW × imageH (the original size, PIL {@code .size}).
     *
     * @param patchesPerSide vision patches per tile side (24 for ViT-L/14 at 336)
     * @param tileSize       vision tower input size (336); pinpoints are divided by it
     * @param aspectMode     {@code image_aspect_ratio}: "anyres", "anyres_max_N", "pad", "square" or null
     * @param mergeType      {@code mm_patch_merge_type}: "flat", "spatial", "spatial_unpad", ...
     */
    public static UnpadLayout layout(int imageW, int imageH, List<int[]> pinpoints, int patchesPerSide,
                                     int tileSize, String aspectMode, String mergeType) {
        checkImageSize(imageW, imageH);
        if (patchesPerSide < 1 || tileSize < 1) {
            throw new IllegalArgumentException("patchesPerSide and tileSize must be positive");
        }
        String merge = mergeType == null ? "flat" : mergeType;
        String mode = aspectMode == null ? "square" : aspectMode;
        int perTile = patchesPerSide * patchesPerSide;
        boolean anyres = isAnyres(mode);
        if (!anyres && !mode.equals("pad") && !mode.equals("square")) {
            throw new IllegalArgumentException("image_aspect_ratio '" + mode + "' is not supported "
                    + "(anyres, anyres_max_N, pad, square)");
        }
        if (!merge.equals("flat") && !merge.startsWith("spatial")) {
            throw new IllegalArgumentException("unexpected mm_patch_merge_type '" + merge
                    + "' (the reference raises ValueError too)");
        }

        if (!anyres) {
            // "square": a plain [B,3,H,W] batch goes straight through encode_images. "pad": one tile per image; with
            // an "unpad" merge the single-image branch appends one image_newline (how training feeds it; a stacked
            // 4-D inference batch would bypass merging like "square").
            boolean newline = mode.equals("pad") && merge.startsWith("spatial") && merge.contains("unpad");
            Kind kind = newline ? Kind.SINGLE : Kind.FLAT;
            return new UnpadLayout(0, 0, 0, 0, 0, 0, 0, 0, perTile + (newline ? 1 : 0), 0, 0, kind, newline, 1);
        }

        int[] best = selectBestResolution(imageW, imageH, pinpoints);
        int gridW = best[0] / tileSize;
        int gridH = best[1] / tileSize;
        int tiles = 1 + gridW * gridH;
        int fullRows = gridH * patchesPerSide;
        int fullCols = gridW * patchesPerSide;
        if (merge.equals("flat")) {
            return new UnpadLayout(gridW, gridH, fullRows, fullCols, 0, fullRows, 0, fullCols, tiles * perTile,
                    fullRows, fullCols, Kind.FLAT, false, tiles);
        }
        if (merge.contains("maxpool2x2") || merge.contains("nobase")) {
            throw new IllegalArgumentException("mm_patch_merge_type '" + merge + "' is not supported");
        }
        if (!merge.contains("unpad")) {
            // "spatial": the stitched map in raster order, no unpadding, no newline.
            return new UnpadLayout(gridW, gridH, fullRows, fullCols, 0, fullRows, 0, fullCols,
                    perTile + fullRows * fullCols, fullRows, fullCols, Kind.GRID, false, tiles);
        }

        int rowStart = 0;
        int rows = fullRows;
        int colStart = 0;
        int cols = fullCols;
        double originalAspect = (double) imageW / imageH;
        double currentAspect = (double) fullCols / fullRows;
        if (originalAspect > currentAspect) {
            double scale = (double) fullCols / imageW;
            int newHeight = (int) (imageH * scale);
            int padding = Math.floorDiv(fullRows - newHeight, 2);
            rowStart = padding;
            rows = Math.max(0, fullRows - 2 * padding);
        } else {
            double scale = (double) fullRows / imageH;
            int newWidth = (int) (imageW * scale);
            int padding = Math.floorDiv(fullCols - newWidth, 2);
            colStart = padding;
            cols = Math.max(0, fullCols - 2 * padding);
        }

        int outRows = rows;
        int outCols = cols;
        Matcher m = ANYRES_MAX.matcher(mode);
        if (mode.contains("anyres_max") && m.lookingAt()) {
            long maxPatches = Long.parseLong(m.group(1));
            double times = Math.sqrt((double) ((long) rows * cols) / (double) (maxPatches * patchesPerSide * patchesPerSide));
            if (times > 1.1) {
                outRows = (int) pythonFloorDiv(rows, times);
                outCols = (int) pythonFloorDiv(cols, times);
            }
        }
        int tokens = perTile + outRows * (outCols + 1);
        return new UnpadLayout(gridW, gridH, fullRows, fullCols, rowStart, rows, colStart, cols, tokens,
                outRows, outCols, Kind.GRID, true, tiles);
    }

    static boolean isAnyres(String mode) {
        return mode != null && (mode.equals("anyres") || mode.contains("anyres_max"));
    }

    /** Python's float {@code a // b} (CPython {@code float_floor_div}: fmod-based, then floor with correction). */
    static double pythonFloorDiv(double a, double b) {
        double mod = a % b; // Java's % on doubles is C fmod
        double div = (a - mod) / b;
        if (mod != 0.0) {
            if ((b < 0) != (mod < 0)) {
                div -= 1.0;
            }
        }
        double floordiv;
        if (div != 0.0) {
            floordiv = Math.floor(div);
            if (div - floordiv > 0.5) floordiv += 1.0;
        } else {
            floordiv = Math.copySign(0.0, a / b);
        }
        return floordiv;
    }

    private static void checkImageSize(int w, int h) {
        if (w < 1 || h < 1) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "image size must be positive, got %dx%d", w, h));
        }
    }
}
