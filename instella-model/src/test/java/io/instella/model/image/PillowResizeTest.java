package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class PillowResizeTest {

    private static RgbImage randomImage(SplittableRandom rnd, int w, int h) {
        byte[] px = new byte[w * h * 3];
        // Mix of noise and smooth gradients: noise exercises clipping of the negative lobes, gradients the rounding.
        boolean noise = rnd.nextBoolean();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) {
                    int v = noise ? rnd.nextInt(256) : (x * 255 / Math.max(1, w - 1) + y * 97 + c * 50) & 0xFF;
                    px[(y * w + x) * 3 + c] = (byte) v;
                }
            }
        }
        return new RgbImage(w, h, px);
    }

    private static void assertSameAsReference(RgbImage src, int w, int h) {
        RgbImage fast = PillowResize.resize(src, w, h);
        RgbImage ref = ReferenceResample.resize(src, w, h);
        assertThat(fast.width()).isEqualTo(w);
        assertThat(fast.height()).isEqualTo(h);
        assertThat(fast.rgb()).as("%dx%d -> %dx%d", src.width(), src.height(), w, h).isEqualTo(ref.rgb());
    }

    @Test
    void matchesTheNaiveReferenceOnEdgeAndRandomSizes() {
        SplittableRandom rnd = new SplittableRandom(20240611);
        List<int[]> cases = new ArrayList<>(); // {srcW, srcH, dstW, dstH}
        cases.add(new int[] {1, 1, 1, 7});
        cases.add(new int[] {1, 1, 9, 1});
        cases.add(new int[] {1, 1, 13, 11});
        cases.add(new int[] {5, 3, 1, 1});
        cases.add(new int[] {120, 90, 1, 1});
        cases.add(new int[] {6, 4, 42, 28});    // 7x up
        cases.add(new int[] {3, 9, 21, 63});    // 7x up
        cases.add(new int[] {400, 150, 8, 3});  // 50x down
        cases.add(new int[] {100, 700, 2, 14}); // 50x down
        cases.add(new int[] {1, 300, 1, 41});   // 1xN
        cases.add(new int[] {1, 37, 5, 333});   // 1xN up
        cases.add(new int[] {257, 1, 19, 1});   // Nx1
        cases.add(new int[] {31, 1, 200, 3});   // Nx1 up
        cases.add(new int[] {50, 50, 50, 17});  // only vertical
        cases.add(new int[] {50, 50, 17, 50});  // only horizontal
        cases.add(new int[] {333, 245, 336, 336});
        for (int i = 0; i < 40; i++) {
            int sw = 1 + rnd.nextInt(rnd.nextBoolean() ? 8 : 160);
            int sh = 1 + rnd.nextInt(rnd.nextBoolean() ? 8 : 160);
            int dw = 1 + rnd.nextInt(Math.min(7 * sw, 200));
            int dh = 1 + rnd.nextInt(Math.min(7 * sh, 200));
            cases.add(new int[] {sw, sh, dw, dh});
        }
        for (int[] c : cases) {
            assertSameAsReference(randomImage(rnd, c[0], c[1]), c[2], c[3]);
        }
    }

    @Test
    void unchangedSizeIsACopy() {
        RgbImage src = randomImage(new SplittableRandom(1), 9, 4);
        RgbImage same = PillowResize.resize(src, 9, 4);
        assertThat(same.rgb()).isEqualTo(src.rgb()).isNotSameAs(src.rgb());
    }

    @Test
    void uniformImagesStayUniform() {
        RgbImage src = RgbImage.filled(37, 23, 255, 0, 128);
        RgbImage out = PillowResize.resize(src, 5, 101);
        for (int i = 0; i < out.rgb().length; i += 3) {
            assertThat(new int[] {out.rgb()[i] & 0xFF, out.rgb()[i + 1] & 0xFF, out.rgb()[i + 2] & 0xFF})
                    .containsExactly(255, 0, 128);
        }
    }

    @Test
    void bicubicKernelValues() {
        PillowResize.Filter f = PillowResize.Filter.BICUBIC;
        assertThat(f.kernel(0)).isEqualTo(1.0);
        assertThat(f.kernel(1)).isZero();
        assertThat(f.kernel(-2)).isZero();
        assertThat(f.kernel(0.5)).isEqualTo(0.5625);
        assertThat(f.kernel(1.5)).isEqualTo(-0.0625);
        assertThat(PillowResize.Filter.BILINEAR.kernel(0.25)).isEqualTo(0.75);
    }

    @Test
    void rejectsEmptyTargets() {
        RgbImage src = RgbImage.filled(4, 4, 1, 2, 3);
        assertThatThrownBy(() -> PillowResize.resize(src, 0, 4)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0x4");
    }
}
