package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.hub.HubClient;
import io.instella.hub.RepoId;
import io.instella.model.InstellaException;
import io.instella.model.random.RandomCheckpoint;
import io.instella.model.source.ModelSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How --model text becomes a local folder: local paths, repo ids, sharded checkpoints, partial needs. */
class ModelSourceTest {
    @TempDir
    Path tmp;

    @Test
    void parsing() throws Exception {
        Path local = Path.of("target/local-dir-wins");
        Files.createDirectories(local);
        assertThat(ModelSource.parse("target/local-dir-wins").isLocal()).as("an existing path wins over a repo id").isTrue();
        ModelSource repo = ModelSource.parse("amd/Instella-VL-1B@v1.0");
        assertThat(repo.isLocal()).isFalse();
        assertThat(repo.repo()).isEqualTo(new RepoId("amd/Instella-VL-1B", io.instella.hub.RepoType.MODEL, "v1.0"));
        assertThatThrownBy(() -> ModelSource.parse("./missing/dir")).isInstanceOf(InstellaException.class)
                .hasMessageContaining("no such model directory");
        assertThatThrownBy(() -> ModelSource.parse("a/b/c")).hasMessageContaining("no such model directory");
        assertThatThrownBy(() -> ModelSource.parse("missing/tokenizer.json")).hasMessageContaining("no such file");
        assertThatThrownBy(() -> ModelSource.parse("justaname")).hasMessageContaining("neither a model directory nor a Hugging Face repo id");
        assertThatThrownBy(() -> ModelSource.parse(" ")).hasMessageContaining("no model given");
    }

    /** A sharded checkpoint: the index is read, exactly its shards are fetched, and the model loads from the cache. */
    @Test
    void shardedRepo() throws Exception {
        Path repoDir = tmp.resolve("repo");
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, repoDir, Golden.resolve("model/tokenizer.json"), 5, DType.BF16);
        String shard = "model-00001-of-00001.safetensors";
        Files.move(repoDir.resolve("model.safetensors"), repoDir.resolve(shard));
        ObjectMapper json = new ObjectMapper();
        ObjectNode index = json.createObjectNode();
        index.putObject("metadata").put("total_size", Files.size(repoDir.resolve(shard)));
        ObjectNode map = index.putObject("weight_map");
        try (Checkpoint ck = Checkpoint.open(repoDir.resolve(shard))) {
            for (String n : ck.names()) map.put(n, shard);
        }
        Files.writeString(repoDir.resolve("model.safetensors.index.json"), json.writeValueAsString(index));
        Files.write(repoDir.resolve("model-00002-of-00002.safetensors"), new byte[16]); // not in the index

        try (LocalHub hub = new LocalHub("org/sharded", repoDir);
             HubClient client = HubClient.builder().environment(Map.of()).endpoint(hub.endpoint()).cacheDir(tmp.resolve("cache")).build()) {
            ModelSource source = ModelSource.parse("org/sharded");
            Path tokDir = source.resolve(ModelSource.Need.TOKENIZER, client, null);
            assertThat(hub.downloaded).containsExactlyInAnyOrder("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json");
            assertThat(source.cached(ModelSource.Need.MODEL, client)).isEmpty();

            Path dir = source.resolve(ModelSource.Need.MODEL, client, null);
            assertThat(dir).isEqualTo(tokDir);
            assertThat(hub.downloaded).contains("model.safetensors.index.json", shard, "config.json")
                    .doesNotContain("model-00002-of-00002.safetensors");
            assertThat(source.cached(ModelSource.Need.MODEL, client)).contains(dir);
            try (var model = io.instella.api.InstellaModel.load(dir)) {
                assertThat(model.supportsImages()).isTrue();
            }
        }
    }

    @Test
    void repoWithoutSafetensorsIsExplained() throws Exception {
        Path repoDir = tmp.resolve("bin-only");
        Files.createDirectories(repoDir);
        Files.copy(Golden.resolve("model/config.json"), repoDir.resolve("config.json"));
        Files.copy(Golden.resolve("model/tokenizer.json"), repoDir.resolve("tokenizer.json"));
        Files.write(repoDir.resolve("pytorch_model.bin"), new byte[32]);
        try (LocalHub hub = new LocalHub("org/bin-only", repoDir);
             HubClient client = HubClient.builder().environment(Map.of()).endpoint(hub.endpoint()).cacheDir(tmp.resolve("cache")).build()) {
            assertThatThrownBy(() -> ModelSource.parse("org/bin-only").resolve(ModelSource.Need.MODEL, client, null))
                    .isInstanceOf(InstellaException.class)
                    .hasMessageContaining("has no model.safetensors (or model.safetensors.index.json and its shards)")
                    .hasMessageContaining("safetensors weights");
        }
    }
}
