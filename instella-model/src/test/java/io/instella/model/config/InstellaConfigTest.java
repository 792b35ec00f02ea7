package io.instella.model.config;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class InstellaConfigTest {
    @TempDir
    Path dir;

    @Test
    void readsTheGoldenConfigAndFindsTheLocalVisionTower() {
        InstellaConfig c = InstellaConfig.load(Golden.resolve("model"));
        assertThat(c.modelType()).isEqualTo("instellavl");
        assertThat(c.text().hiddenSize()).isEqualTo(128);
        assertThat(c.text().vocabSize()).isEqualTo(50304);
        assertThat(c.contextLength()).isEqualTo(32768);
        assertThat(c.multimodal().vision().hiddenSize()).isEqualTo(64);
        assertThat(c.multimodal().vision().source()).contains("vision_tower");
        assertThat(c.multimodal().gridPinpoints()).hasSize(10);
        assertThat(c.multimodal().gridPinpoints().get(1)).containsExactly(336, 672);
        assertThat(c.multimodal().preprocessorConfig()).isNotNull();
    }

    @Test
    void builtInTableWhenOnlyTheTowerIsNamed() throws IOException {
        String cfg = Files.readString(Golden.resolve("model/config.json")).replace("\"mm_hidden_size\": 64", "\"mm_hidden_size\": 1024");
        Files.writeString(dir.resolve("config.json"), cfg);
        InstellaConfig c = InstellaConfig.load(dir);
        assertThat(c.multimodal().vision().numLayers()).isEqualTo(24);
        assertThat(c.multimodal().vision().source()).contains("built-in");
    }

    @Test
    void embeddedVisionConfigWins() throws IOException {
        String cfg = Files.readString(Golden.resolve("model/config.json"))
                .replaceFirst("\\{", "{\"vision_config\": {\"hidden_size\": 64, \"intermediate_size\": 256, \"num_hidden_layers\": 5, \"num_attention_heads\": 4, \"image_size\": 336, \"patch_size\": 14},");
        Files.writeString(dir.resolve("config.json"), cfg);
        assertThat(InstellaConfig.load(dir).multimodal().vision().numLayers()).isEqualTo(5);
    }

    @Test
    void clearErrors() throws IOException {
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class).hasMessageContaining("file not found");
        Files.writeString(dir.resolve("config.json"), "{not json");
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("not valid JSON");
        String good = Files.readString(Golden.resolve("model/config.json"));
        Files.writeString(dir.resolve("config.json"), good.replace("\"instellavl\"", "\"llama\""));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("model_type 'llama' is not supported");
        Files.writeString(dir.resolve("config.json"), good.replace("\"hidden_size\": 128,", ""));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("missing required field 'hidden_size'");
        Files.writeString(dir.resolve("config.json"), good.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 3"));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("not divisible");
        Files.writeString(dir.resolve("config.json"), good.replace("\"mlp2x_gelu\"", "\"qformer\""));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("mm_projector_type 'qformer'");
        Files.writeString(dir.resolve("config.json"), good.replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\"}"));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("rope_scaling");
        Files.writeString(dir.resolve("config.json"), good.replace("\"hidden_size\": 128", "\"hidden_size\": \"big\""));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).hasMessageContaining("'hidden_size' must be an integer");
    }
}
