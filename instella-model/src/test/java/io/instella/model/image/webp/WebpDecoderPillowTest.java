package io.instella.model.image.webp;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.Stream;

import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Lossy (and some lossless) WebP files made with cwebp / libwebp 1.2.4, decoded exactly as Pillow 9.4 decodes them:
 * odd and tiny sizes, qualities 0..100, simple/normal/no loop filter, sharpness, segments, token partitions,
 * sharp YUV, alpha, VP8X with metadata, the first frame of animations.
 */
class WebpDecoderPillowTest {

    static Stream<Arguments> cases() {
        return WebpFixtures.table("cases.tsv").stream()
                .map(r -> Arguments.of(r[0], Integer.parseInt(r[1]), Integer.parseInt(r[2]), r[3]));
    }

    @ParameterizedTest(name = "{0}: {3}")
    @MethodSource("cases")
    void pixelsEqualPillows(String name, int width, int height, String description) {
        byte[] file = WebpFixtures.bytes(name + ".webp");
        byte[] expected = WebpFixtures.bytes(name + ".rgb.gz");

        RgbImage image = WebpDecoder.decode(file, name + ".webp", ImageDecoder.DEFAULT_MAX_PIXELS);

        assertThat(image.width()).isEqualTo(width);
        assertThat(image.height()).isEqualTo(height);
        byte[] actual = image.rgb();
        int differing = 0;
        int max = 0;
        int first = -1;
        for (int i = 0; i < actual.length; i++) {
            int d = Math.abs((actual[i] & 0xFF) - (expected[i] & 0xFF));
            if (d != 0) {
                differing++;
                max = Math.max(max, d);
                if (first < 0) {
                    first = i;
                }
            }
        }
        assertThat(differing)
                .as("%s: bytes differing from Pillow (max |diff| %d, first at pixel (%d, %d))", name, max,
                        first < 0 ? -1 : (first / 3) % width, first < 0 ? -1 : (first / 3) / width)
                .isZero();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void imageDecoderDispatchesWebpHere(String name, int width, int height, String description) {
        byte[] file = WebpFixtures.bytes(name + ".webp");
        RgbImage viaImageDecoder = ImageDecoder.defaults().decode(file, name + ".webp");
        assertThat(viaImageDecoder.rgb()).isEqualTo(WebpFixtures.bytes(name + ".rgb.gz"));
    }
}
