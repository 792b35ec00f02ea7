package io.instella.model.vision;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;
import io.instella.model.config.InstellaConfig;
import io.instella.model.projector.MlpProjector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/** Vision tower and projector on the golden pixel_values (isolates them from preprocessing). */
class VisionGoldenTest {
    static Checkpoint ckpt;
    static InstellaConfig cfg;
    static ClipVisionTower tower;
    static MlpProjector projector;

    @BeforeAll
    static void load() {
        cfg = InstellaConfig.load(Golden.resolve("model"));
        ckpt = Checkpoint.open(Golden.resolve("model"));
        var mm = cfg.multimodal();
        tower = new ClipVisionTower(mm.vision(), ckpt, mm.selectLayer(), mm.selectFeature());
        projector = new MlpProjector(mm.projectorType(), mm.mmHiddenSize(), cfg.text().hiddenSize(), ckpt);
    }

    @AfterAll
    static void close() {
        if (ckpt != null) ckpt.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sq336", "land640x480", "wide1000x300", "tall200x900"})
    void towerAndProjectorMatch(String image) {
        try (SafeTensorsFile t = SafeTensorsFile.open(Golden.resolve("images/" + image + ".safetensors"))) {
            float[] pixels = t.tensor("pixel_values").toFloatArray();
            int tiles = (int) t.tensor("pixel_values").dim(0);
            float[] features = tower.forward(pixels, tiles);
            float[] expected = t.tensor("vision_features").toFloatArray();
            assertThat(maxAbsDiff(features, expected)).as("vision_features").isLessThan(1e-3);
            float[] projected = projector.forward(expected, tiles * tower.featuresPerTile());
            assertThat(maxAbsDiff(projected, t.tensor("projected_features").toFloatArray())).as("projected_features").isLessThan(1e-3);
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertThat(a.length).isEqualTo(b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
