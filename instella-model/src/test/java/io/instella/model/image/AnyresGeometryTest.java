package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AnyresGeometryTest {

    private static final List<int[]> PINPOINTS = ImageProcessingConfig.INSTELLA_PINPOINTS;

    /** Spec §4.6, all twelve rows: image, best, grid, resize + paste, feature map, kept window, tiles, tokens. */
    @ParameterizedTest(name = "{0}x{1}")
    @CsvSource({
        // W,   H,    bestW, bestH, gridW, gridH, newW, newH, pasteX, pasteY, fullRows, fullCols, rowStart, rows, colStart, cols, tiles, tokens
        "336,  336,  336,  336,  1, 1, 336,  336,  0,  0,   24, 24,  0, 24, 0,  24,  2, 1176",
        "640,  480,  672,  672,  2, 2, 672,  504,  0,  84,  48, 48,  6, 36, 0,  48,  5, 2340",
        "480,  640,  672,  672,  2, 2, 504,  672,  84, 0,   48, 48,  0, 48, 6,  36,  5, 2352",
        "1024, 768,  672,  672,  2, 2, 672,  504,  0,  84,  48, 48,  6, 36, 0,  48,  5, 2340",
        "800,  600,  672,  672,  2, 2, 672,  504,  0,  84,  48, 48,  6, 36, 0,  48,  5, 2340",
        "2000, 500,  1344, 336,  4, 1, 1344, 336,  0,  0,   24, 96,  0, 24, 0,  96,  5, 2904",
        "500,  2000, 336,  1344, 1, 4, 336,  1344, 0,  0,   96, 24,  0, 96, 0,  24,  5, 2976",
        "1920, 1080, 672,  672,  2, 2, 672,  378,  0,  147, 48, 48,  10, 28, 0, 48,  5, 1948",
        "1000, 1000, 672,  672,  2, 2, 672,  672,  0,  0,   48, 48,  0, 48, 0,  48,  5, 2928",
        "100,  100,  336,  336,  1, 1, 336,  336,  0,  0,   24, 24,  0, 24, 0,  24,  2, 1176",
        "336,  1000, 336,  1008, 1, 3, 336,  1000, 0,  4,   72, 24,  0, 72, 0,  24,  4, 2376",
        "3000, 200,  1680, 336,  5, 1, 1680, 113,  0,  111, 24, 120, 8, 8,  0, 120,  6, 1544",
    })
    void workedTokenCountTable(int w, int h, int bestW, int bestH, int gridW, int gridH, int newW, int newH,
                               int pasteX, int pasteY, int fullRows, int fullCols, int rowStart, int rows,
                               int colStart, int cols, int tiles, int tokens) {
        assertThat(AnyresGeometry.selectBestResolution(w, h, PINPOINTS)).containsExactly(bestW, bestH);
        assertThat(AnyresGeometry.resizeAndPadSize(w, h, bestW, bestH)).containsExactly(newW, newH, pasteX, pasteY);
        AnyresGeometry.UnpadLayout l = AnyresGeometry.layout(w, h, PINPOINTS, 24, "anyres", "spatial_unpad");
        assertThat(l).isEqualTo(new AnyresGeometry.UnpadLayout(gridW, gridH, fullRows, fullCols, rowStart, rows,
                colStart, cols, tokens, rows, cols, AnyresGeometry.Kind.GRID, true, tiles));
        assertThat(l.numImageTokens()).isEqualTo(576 + l.rows() * (l.cols() + 1));
        assertThat(l.interpolated()).isFalse();
    }

    @Test
    void ceilQuirkOf3000x200() {
        // 200 * (1680 / 3000) is 112.00000000000001 in IEEE double, so ceil gives 113, not 112.
        assertThat(200 * (1680.0 / 3000)).isGreaterThan(112.0);
        assertThat(AnyresGeometry.resizeAndPadSize(3000, 200, 1680, 336)[1]).isEqualTo(113);
    }

    @Test
    void tiesKeepTheEarlierPinpointAndSmallImagesPick336() {
        for (int[] size : new int[][] {{1, 1}, {17, 300}, {336, 1}, {200, 336}}) {
            assertThat(AnyresGeometry.selectBestResolution(size[0], size[1], PINPOINTS)).containsExactly(336, 336);
        }
        // 100x100 keeps all pixels on both 336x672 and 672x336 with equal waste: the first listed wins.
        List<int[]> tall = List.of(new int[] {336, 672}, new int[] {672, 336});
        List<int[]> wide = List.of(new int[] {672, 336}, new int[] {336, 672});
        assertThat(AnyresGeometry.selectBestResolution(100, 100, tall)).containsExactly(336, 672);
        assertThat(AnyresGeometry.selectBestResolution(100, 100, wide)).containsExactly(672, 336);
    }

    @Test
    void otherModesAndMergeTypes() {
        AnyresGeometry.UnpadLayout pad = AnyresGeometry.layout(640, 480, PINPOINTS, 24, "pad", "spatial_unpad");
        assertThat(pad.kind()).isEqualTo(AnyresGeometry.Kind.SINGLE);
        assertThat(pad.numImageTokens()).isEqualTo(577);
        assertThat(pad.tiles()).isEqualTo(1);
        AnyresGeometry.UnpadLayout square = AnyresGeometry.layout(640, 480, PINPOINTS, 24, "square", "spatial_unpad");
        assertThat(square.kind()).isEqualTo(AnyresGeometry.Kind.FLAT);
        assertThat(square.numImageTokens()).isEqualTo(576);
        assertThat(AnyresGeometry.layout(640, 480, PINPOINTS, 24, null, "flat").numImageTokens()).isEqualTo(576);
        assertThat(AnyresGeometry.layout(640, 480, PINPOINTS, 24, "pad", "flat").numImageTokens()).isEqualTo(576);
        // anyres with flat merge: every tile's 576 rows.
        AnyresGeometry.UnpadLayout flat = AnyresGeometry.layout(640, 480, PINPOINTS, 24, "anyres", "flat");
        assertThat(flat.kind()).isEqualTo(AnyresGeometry.Kind.FLAT);
        assertThat(flat.numImageTokens()).isEqualTo(5 * 576);
        // "spatial" without unpad: base + the whole stitched map, no newline.
        AnyresGeometry.UnpadLayout spatial = AnyresGeometry.layout(640, 480, PINPOINTS, 24, "anyres", "spatial");
        assertThat(spatial.newline()).isFalse();
        assertThat(spatial.numImageTokens()).isEqualTo(576 + 48 * 48);

        assertThatThrownBy(() -> AnyresGeometry.layout(640, 480, PINPOINTS, 24, "highres", "spatial_unpad"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("highres");
        assertThatThrownBy(() -> AnyresGeometry.layout(640, 480, PINPOINTS, 24, "anyres", "linear"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("linear");
    }

    @Test
    void anyresMaxDownscalesTheKeptWindowOnlyAboveItsBudget() {
        // 1000x1000 -> 2x2 grid, 48x48 kept. anyres_max_9 allows 9*576 = 5184 >= 2304: no interpolation.
        AnyresGeometry.UnpadLayout roomy = AnyresGeometry.layout(1000, 1000, PINPOINTS, 24, "anyres_max_9",
                "spatial_unpad");
        assertThat(roomy.interpolated()).isFalse();
        assertThat(roomy.numImageTokens()).isEqualTo(2928);
        // anyres_max_1: times = sqrt(2304 / 576) = 2 > 1.1 -> int(48 // 2) = 24 each way.
        AnyresGeometry.UnpadLayout tight = AnyresGeometry.layout(1000, 1000, PINPOINTS, 24, "anyres_max_1",
                "spatial_unpad");
        assertThat(tight.rows()).isEqualTo(48);
        assertThat(new int[] {tight.outRows(), tight.outCols()}).containsExactly(24, 24);
        assertThat(tight.numImageTokens()).isEqualTo(576 + 24 * 25);
        // 640x480: kept 36x48, anyres_max_2: times = sqrt(1728 / 1152) = 1.2247 -> 36 // 1.2247 = 29, 48 // 1.2247 = 39.
        AnyresGeometry.UnpadLayout mid = AnyresGeometry.layout(640, 480, PINPOINTS, 24, "anyres_max_2",
                "spatial_unpad");
        assertThat(new int[] {mid.outRows(), mid.outCols()}).containsExactly(29, 39);
    }

    @Test
    void pythonFloatFloorDivision() {
        assertThat(AnyresGeometry.pythonFloorDiv(48, 2.0)).isEqualTo(24.0);
        assertThat(AnyresGeometry.pythonFloorDiv(7, 2.5)).isEqualTo(2.0);
        assertThat(AnyresGeometry.pythonFloorDiv(-7, 2.0)).isEqualTo(-4.0);
        // Python: 1 // 0.1 == 9.0 (fmod-based), although 1 / 0.1 == 10.0.
        assertThat(AnyresGeometry.pythonFloorDiv(1, 0.1)).isEqualTo(9.0);
    }

    @Test
    void rejectsImpossibleInputs() {
        assertThatThrownBy(() -> AnyresGeometry.selectBestResolution(0, 10, PINPOINTS))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AnyresGeometry.selectBestResolution(10, 10, List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("pinpoints");
    }

    @Test
    void extremeAspectRatiosKeepNoPixelAndFallBackToLeastWaste() {
        // Every candidate scales the 1-pixel side to 0 (effective area 0); like the reference, the 0 == 0 tie with
        // less waste than +inf still selects, so the smallest canvas wins and the resize keeps 1 pixel.
        assertThat(AnyresGeometry.selectBestResolution(1, 100_000, PINPOINTS)).containsExactly(336, 336);
        assertThat(AnyresGeometry.resizeAndPadSize(1, 100_000, 336, 336)).containsExactly(1, 336, 167, 0);
    }
}
