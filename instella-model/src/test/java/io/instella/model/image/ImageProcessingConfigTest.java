package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageProcessingConfigTest {

    private static final String CLIP_JSON = """
            {"crop_size": 336, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
             "resample": 3, "size": 336}""";

    private static Path write(Path dir, String name, String json) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, json);
        return p;
    }

    @Test
    void readsClipConfigAndModelSettings(@TempDir Path tmp) throws IOException {
        Path pre = write(tmp, "preprocessor_config.json", CLIP_JSON);
        Path model = write(tmp, "config.json", """
                {"image_aspect_ratio": "anyres_max_9", "image_grid_pinpoints": "(1x1),...,(3x3)"}""");
        ImageProcessingConfig c = ImageProcessingConfig.fromFiles(pre, model);
        assertThat(c.cropSize()).isEqualTo(336);
        assertThat(c.shortestEdge()).isEqualTo(336);
        assertThat(c.rescaleFactor()).isEqualTo(1.0 / 255);
        assertThat(c.mean()).containsExactly(0.48145466f, 0.4578275f, 0.40821073f);
        assertThat(c.aspectRatioMode()).isEqualTo("anyres_max_9");
        assertThat(c.gridPinpoints()).hasSize(9);
        assertThat(c.gridPinpoints().get(1)).containsExactly(336, 672);
        assertThat(c.gridPinpoints().get(3)).containsExactly(672, 336);
        assertThat(c.gridPinpoints().get(8)).containsExactly(1008, 1008);

        Path dict = write(tmp, "dict.json", """
                {"crop_size": {"height": 224, "width": 224}, "size": {"shortest_edge": 256},
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "rescale_factor": 0.5}""");
        Path stringList = write(tmp, "m2.json", """
                {"image_aspect_ratio": "anyres", "image_grid_pinpoints": "[(224, 448), (448, 224)]"}""");
        ImageProcessingConfig d = ImageProcessingConfig.fromFiles(dict, stringList);
        assertThat(d.cropSize()).isEqualTo(224);
        assertThat(d.shortestEdge()).isEqualTo(256);
        assertThat(d.rescaleFactor()).isEqualTo(0.5);
        assertThat(d.gridPinpoints().get(0)).containsExactly(224, 448);

        Path noMode = write(tmp, "m3.json", "{}");
        assertThat(ImageProcessingConfig.fromFiles(pre, noMode).aspectRatioMode()).isEqualTo("square");
        assertThat(ImageProcessingConfig.fromPreprocessorConfig(pre, "pad", null))
                .isEqualTo(ImageProcessingConfig.clipDefaults("pad", List.of()));
    }

    @Test
    void refusesSettingsItCannotHonour(@TempDir Path tmp) throws IOException {
        Path model = write(tmp, "config.json", "{\"image_aspect_ratio\": \"pad\"}");
        Path noNorm = write(tmp, "a.json", CLIP_JSON.replace("\"do_normalize\": true", "\"do_normalize\": false"));
        assertThatThrownBy(() -> ImageProcessingConfig.fromFiles(noNorm, model))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("do_normalize=false");
        Path bilinear = write(tmp, "b.json", CLIP_JSON.replace("\"resample\": 3", "\"resample\": 2"));
        assertThatThrownBy(() -> ImageProcessingConfig.fromFiles(bilinear, model))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("resample 2");
        assertThatThrownBy(() -> ImageProcessingConfig.fromFiles(tmp.resolve("missing.json"), model))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("file not found");
        assertThatThrownBy(() -> ImageProcessingConfig.clipDefaults("highres", List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("highres");
        assertThatThrownBy(() -> ImageProcessingConfig.clipDefaults("anyres", List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs image_grid_pinpoints");
        assertThatThrownBy(() -> ImageProcessingConfig.clipDefaults("anyres", List.of(new int[] {336, 500})))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiples");
    }
}
