package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Decode + anyres preprocessing of every golden image against the reference's pixel_values and geometry. */
class ImagePreprocessorGoldenTest {

    static Stream<String> images() throws IOException {
        Path dir = Golden.dir().resolve("images");
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".png"))
                    .map(n -> n.substring(0, n.length() - 4)).sorted().toList().stream();
        }
    }

    private static ImageProcessingConfig goldenConfig() {
        Path model = Golden.dir().resolve("model");
        return ImageProcessingConfig.fromFiles(model.resolve("vision_tower/preprocessor_config.json"),
                model.resolve("config.json"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void pixelValuesAndGeometryMatchTheReference(String name) throws IOException {
        Path dir = Golden.dir().resolve("images");
        JsonNode meta = new ObjectMapper().readTree(dir.resolve(name + ".json").toFile());
        ImageProcessingConfig config = goldenConfig();
        RgbImage image = ImageDecoder.defaults().decode(dir.resolve(name + ".png"));
        assertThat(new int[] {image.width(), image.height()})
                .containsExactly(meta.get("size_wh").get(0).asInt(), meta.get("size_wh").get(1).asInt());

        PreprocessedImage pre = new ImagePreprocessor(config).preprocess(image);

        int[] best = AnyresGeometry.selectBestResolution(image.width(), image.height(), config.gridPinpoints());
        assertThat(best).containsExactly(meta.get("best_resolution_wh").get(0).asInt(),
                meta.get("best_resolution_wh").get(1).asInt());
        assertThat(new int[] {pre.gridWidth(), pre.gridHeight()})
                .containsExactly(meta.get("grid_wh").get(0).asInt(), meta.get("grid_wh").get(1).asInt());
        assertThat(pre.tiles()).isEqualTo(meta.get("num_tiles_incl_base").asInt());
        AnyresGeometry.UnpadLayout layout = AnyresGeometry.layout(image.width(), image.height(),
                config.gridPinpoints(), 24, config.aspectRatioMode(), "spatial_unpad");
        assertThat(layout.numImageTokens()).isEqualTo(meta.get("num_image_tokens").asInt());
        assertThat(layout.tiles()).isEqualTo(pre.tiles());

        try (SafeTensorsFile st = SafeTensorsFile.open(dir.resolve(name + ".safetensors"))) {
            var tensor = st.tensor("pixel_values");
            assertThat(tensor.shape()).containsExactly(pre.tiles(), 3, 336, 336);
            float[] expected = tensor.toFloatArray();
            float[] actual = pre.pixelValues();
            assertThat(actual).hasSameSizeAs(expected);
            double maxDiff = 0;
            int firstBad = -1;
            for (int i = 0; i < expected.length; i++) {
                double d = Math.abs(actual[i] - expected[i]);
                if (d > maxDiff) maxDiff = d;
                if (d > 1e-5 && firstBad < 0) firstBad = i;
            }
            System.out.printf("preprocess %s: tiles=%d max|diff|=%.3g%n", name, pre.tiles(), maxDiff);
            assertThat(firstBad).as("first pixel value off by more than 1e-5 (tile %d), max diff %g",
                    firstBad / (3 * 336 * 336), maxDiff).isEqualTo(-1);
        }
    }

    @org.junit.jupiter.api.Test
    void goldenConfigIsTheInstellaDefault() {
        assertThat(goldenConfig()).isEqualTo(ImageProcessingConfig.instellaDefaults());
        assertThat(goldenConfig().gridPinpoints()).hasSize(10);
        assertThat(List.of(goldenConfig().aspectRatioMode())).containsExactly("anyres");
    }
}
