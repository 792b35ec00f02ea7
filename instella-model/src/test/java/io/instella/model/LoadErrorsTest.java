package io.instella.model;

import io.instella.core.safetensors.SafeTensorsException;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.random.RandomCheckpoint;
import io.instella.model.tokenizer.TokenizerException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A checkpoint that does not fit its config, or lacks a file, is refused with a message that says why. */
class LoadErrorsTest {
    @TempDir
    Path dir;

    private Path tinyModel() throws IOException {
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, dir, Golden.resolve("model/tokenizer.json"), 3, DType.BF16);
        return dir;
    }

    @Test
    void randomTinyModelLoadsAndKnowsItsImageTokens() throws IOException {
        try (InstellaVL m = InstellaVL.load(tinyModel())) {
            assertThat(m.supportsImages()).isTrue();
            assertThat(m.imageTokenCount(640, 480)).isEqualTo(2340);
            assertThat(m.imageTokenCount(3000, 200)).isEqualTo(1544);
            assertThat(m.imageTokenCount(336, 1000)).isEqualTo(2376);
        }
    }

    @Test
    void configWithMoreLayersThanTheWeights() throws IOException {
        Path m = tinyModel();
        String cfg = Files.readString(m.resolve("config.json")).replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 3");
        Files.writeString(m.resolve("config.json"), cfg);
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("missing tensors (7)").hasMessageContaining("model.layers.2.mlp.down_proj.weight");
    }

    @Test
    void configWithAnotherWidth() throws IOException {
        Path m = tinyModel();
        Files.writeString(m.resolve("config.json"), Files.readString(m.resolve("config.json"))
                .replace("\"intermediate_size\" : 512", "\"intermediate_size\" : 256"));
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("mlp.gate_proj.weight").hasMessageContaining("[512, 128]").hasMessageContaining("[256, 128]");
    }

    @Test
    void missingTokenizer() throws IOException {
        Path m = tinyModel();
        Files.delete(m.resolve("tokenizer.json"));
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(InstellaException.class).hasMessageContaining("no tokenizer.json");
    }

    @Test
    void corruptTokenizer() throws IOException {
        Path m = tinyModel();
        Files.writeString(m.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\"}}");
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(TokenizerException.class).hasMessageContaining("tokenizer.json");
    }

    @Test
    void weightsOfTheWrongKind() throws IOException {
        Path m = tinyModel();
        Files.writeString(m.resolve("model.safetensors"), "not a checkpoint at all, just text of some length");
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class).hasMessageContaining("model.safetensors");
    }
}
