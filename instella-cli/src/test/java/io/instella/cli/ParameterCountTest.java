package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.testing.Golden;
import io.instella.model.config.InstellaConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The parameter count {@code instella info} shows before the weights are downloaded. */
class ParameterCountTest {
    @TempDir
    Path tmp;

    @Test
    void equalsTheCheckpointsCount() {
        Path dir = Golden.resolve("model");
        long exact = 0;
        try (Checkpoint ck = Checkpoint.open(dir)) {
            for (String n : ck.names()) exact += ck.get(n).numel();
        }
        assertThat(ParameterCount.fromConfig(InstellaConfig.load(dir))).isEqualTo(exact);
    }

    /** The real shape (spec §1.3: 2.97 GB of bf16 = 1,486,569,472 parameters), with the built-in CLIP-L/336 tower config. */
    @Test
    void instellaVl1bShape() throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(Golden.resolve("model/config.json").toFile());
        c.put("hidden_size", 2048).put("intermediate_size", 8192).put("num_hidden_layers", 16)
                .put("num_attention_heads", 16).put("num_key_value_heads", 16).put("mm_hidden_size", 1024)
                .put("mm_vision_tower", "openai/clip-vit-large-patch14-336");
        c.remove("vision_config");
        c.remove("mm_vision_config");
        Files.writeString(tmp.resolve("config.json"), json.writeValueAsString(c));
        InstellaConfig config = InstellaConfig.load(tmp);
        assertThat(config.multimodal().vision().hiddenSize()).isEqualTo(1024);
        assertThat(ParameterCount.fromConfig(config)).isEqualTo(1_486_569_472L);
    }
}
