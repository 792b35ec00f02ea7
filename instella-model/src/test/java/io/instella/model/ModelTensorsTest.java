package io.instella.model;

import io.instella.core.testing.Golden;
import io.instella.model.config.InstellaConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The shapes checked before loading cover exactly the names the model parts require, for every layout variant. */
class ModelTensorsTest {
    @TempDir
    Path dir;

    private InstellaConfig variant(String... replacements) throws IOException {
        Path golden = Golden.resolve("model");
        Files.createDirectories(dir.resolve("vision_tower"));
        Files.copy(golden.resolve("vision_tower/config.json"), dir.resolve("vision_tower/config.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        String cfg = Files.readString(golden.resolve("config.json"));
        for (int i = 0; i < replacements.length; i += 2) {
            assertThat(cfg).contains(replacements[i]);
            cfg = cfg.replace(replacements[i], replacements[i + 1]);
        }
        Files.writeString(dir.resolve("config.json"), cfg);
        return InstellaConfig.load(dir);
    }

    @Test
    void expectedShapesNameExactlyTheRequiredTensors() throws IOException {
        InstellaConfig[] configs = {
                variant(),
                variant("\"attention_bias\": false", "\"attention_bias\": true", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"),
                variant("\"mlp2x_gelu\"", "\"linear\"", "\"spatial_unpad\"", "\"flat\""),
                variant("\"mlp2x_gelu\"", "\"mlp3x_gelu\"", "\"num_key_value_heads\": 4", "\"num_key_value_heads\": 2"),
        };
        for (InstellaConfig c : configs) {
            assertThat(ModelTensors.expectedShapes(c).keySet()).containsExactlyInAnyOrderElementsOf(ModelTensors.required(c));
        }
        var untied = ModelTensors.expectedShapes(configs[1]);
        assertThat(untied.get("lm_head.weight")).containsExactly(50304, 128);
        assertThat(untied.get("model.layers.1.self_attn.k_proj.bias")).containsExactly(128);
        var gqa = ModelTensors.expectedShapes(configs[3]);
        assertThat(gqa.get("model.layers.0.self_attn.v_proj.weight")).containsExactly(64, 128);
        assertThat(gqa.get("model.mm_projector.0.weight")).containsExactly(128, 64);
        assertThat(gqa.get("model.mm_projector.4.weight")).containsExactly(128, 128);
        assertThat(gqa.get(io.instella.model.vision.ClipVisionTower.PREFIX + "embeddings.position_embedding.weight"))
                .containsExactly(577, 64);
    }
}
