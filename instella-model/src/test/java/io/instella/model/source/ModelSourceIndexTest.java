package io.instella.model.source;

import io.instella.model.InstellaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The weight index read before downloading shards: entries must be shard file names, checked as written. */
class ModelSourceIndexTest {
    @TempDir
    Path dir;

    @Test
    void shardNamesAreStringsAndStayInTheRepository() throws IOException {
        Path index = dir.resolve(ModelSource.WEIGHTS_INDEX);
        Files.writeString(index, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-1.safetensors\", \"c\": \"model-2.safetensors\"}}");
        assertThat(ModelSource.shardNames(index)).containsExactly("model-1.safetensors", "model-2.safetensors");
        Files.writeString(index, "{\"weight_map\": {\"a\": 7}}");
        assertThatThrownBy(() -> ModelSource.shardNames(index)).isInstanceOf(InstellaException.class)
                .hasMessageContaining(index.toString()).hasMessageContaining("weight_map entry 'a' is 7");
        Files.writeString(index, "{\"weight_map\": {\"a\": \"../escape.safetensors\"}}");
        assertThatThrownBy(() -> ModelSource.shardNames(index)).isInstanceOf(InstellaException.class).hasMessageContaining("unsafe");
        Files.writeString(index, "[1, 2]");
        assertThatThrownBy(() -> ModelSource.shardNames(index)).isInstanceOf(InstellaException.class).hasMessageContaining("no weight_map");
    }
}
