package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;

import io.instella.core.testing.Golden;
import io.instella.model.image.ImageProcessingConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingImageConfigTest {
    @TempDir
    Path dir;

    @Test
    void aSeparateClipTowerGivesTheSameSettingsAsTheModelDirectory() {
        Path model = Golden.resolve("model");
        for (String mode : new String[] {"square", "anyres", "pad"}) {
            TrainingImageConfig fromModel = TrainingImageConfig.forModel(model, mode, "spatial_unpad");
            TrainingImageConfig fromTower = TrainingImageConfig.forVisionTower(model.resolve("vision_tower"), mode,
                    "spatial_unpad", null);
            assertThat(fromTower.processing()).isEqualTo(fromModel.processing());
            assertThat(fromTower.patchesPerSide()).isEqualTo(fromModel.patchesPerSide()).isEqualTo(24);
        }
        TrainingImageConfig released = TrainingImageConfig.forModel(model, null, null);
        assertThat(released.aspectRatioMode()).isEqualTo("anyres");
        assertThat(released.mergeType()).isEqualTo("spatial_unpad");
    }

    @Test
    void imageRowsPerModeAndMergeType() {
        TrainingImageConfig anyres = new TrainingImageConfig(ImageProcessingConfig.instellaDefaults(), 24, "spatial_unpad", null);
        // spec §4.6: 1000x1000 -> 2928, 100x100 -> 1176, 336x1000 -> 2376, 3000x200 -> 1544
        assertThat(anyres.imageTokens(1000, 1000, "anyres")).isEqualTo(2928);
        assertThat(anyres.imageTokens(100, 100, "anyres")).isEqualTo(1176);
        assertThat(anyres.imageTokens(336, 1000, "anyres")).isEqualTo(2376);
        assertThat(anyres.imageTokens(3000, 200, "anyres")).isEqualTo(1544);
        // One tile (square, pad, multi-image records): single-tile branch with image_newline under unpad.
        assertThat(anyres.imageTokens(1000, 300, "pad")).isEqualTo(577);
        assertThat(anyres.imageTokens(1000, 300, "square")).isEqualTo(577);
        assertThat(anyres.modeFor(1)).isEqualTo("anyres");
        assertThat(anyres.modeFor(3)).isEqualTo("pad");
        TrainingImageConfig flat = new TrainingImageConfig(ImageProcessingConfig.clipDefaults("square", null), 24, "flat", null);
        assertThat(flat.imageTokens(1000, 300, "square")).isEqualTo(576);
        assertThat(flat.dummyImage().originalWidth()).isEqualTo(336);
    }

    @Test
    void unusableSettingsAreRefusedInWords() throws Exception {
        assertThatThrownBy(() -> new TrainingImageConfig(ImageProcessingConfig.instellaDefaults(), 24, "maxpool", null))
                .isInstanceOf(DataException.class).hasMessageContaining("mm_patch_merge_type 'maxpool'");
        Files.writeString(dir.resolve("config.json"), "{\"image_size\": 336, \"patch_size\": 10}");
        assertThatThrownBy(() -> TrainingImageConfig.forVisionTower(dir, "square", "flat", null))
                .isInstanceOf(DataException.class).hasMessageContaining("not a multiple of patch_size 10");
    }
}
