package io.instella.cli;

import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.random.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --model org/name}: the CLI fetches exactly the files the model needs into the Hugging Face cache, and
 * without a network fails within seconds with a message saying what to do. Each case runs the CLI in a child JVM
 * with its own HF_HOME and HF_ENDPOINT.
 */
class HubModelsTest {
    static final Path SHAPES = Path.of("../examples/shapes.png");

    @TempDir
    Path tmp;

    static Map<String, String> env(Path hfHome, String endpoint, boolean offline) {
        Map<String, String> env = new HashMap<>(Map.of("HF_HOME", hfHome.toString(), "HF_ENDPOINT", endpoint));
        if (offline) env.put("HF_HUB_OFFLINE", "1");
        return env;
    }

    static String closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return "http://127.0.0.1:" + s.getLocalPort();
        }
    }

    @Test
    void noNetworkAndNoCacheFailsWithinSeconds() throws Exception {
        ChildCli.Result r = ChildCli.run(env(tmp.resolve("hf"), closedPort(), false), Duration.ofSeconds(60),
                "run", "--model", "amd/Instella-VL-1B", "--image", SHAPES.toString(), "Describe this image.");
        assertThat(r.exitCode()).as(r.err()).isEqualTo(1);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("instella: error: cannot get amd/Instella-VL-1B from the Hugging Face Hub")
                .contains("HF_HUB_OFFLINE=1").doesNotContain("\tat ");
        assertThat(r.elapsed()).isLessThan(Duration.ofSeconds(15));
    }

    @Test
    void offlineWithoutCacheSaysWhereItLooked() throws Exception {
        Path hf = tmp.resolve("hf");
        ChildCli.Result r = ChildCli.run(env(hf, closedPort(), true), Duration.ofSeconds(60),
                "run", "--model", "amd/Instella-VL-1B", "Hello");
        assertThat(r.exitCode()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains("HF_HUB_OFFLINE is set").contains(hf.resolve("hub").toString())
                .contains("without HF_HUB_OFFLINE").doesNotContain("\tat ");
        assertThat(r.elapsed()).isLessThan(Duration.ofSeconds(15));
    }

    @Test
    void downloadsOnlyWhatTheModelNeedsThenRunsFromTheCacheOffline() throws Exception {
        Path repoDir = tmp.resolve("repo");
        RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, repoDir, Golden.resolve("model/tokenizer.json"), 3, DType.BF16);
        // Files a Hub repo has that instella must not fetch.
        Files.write(repoDir.resolve("pytorch_model.bin"), new byte[4096]);
        Files.writeString(repoDir.resolve("README.md"), "# tiny\n");
        Files.writeString(repoDir.resolve("modeling_instellavl.py"), "# remote code\n");
        Files.write(repoDir.resolve("vision_tower/model.safetensors"), new byte[64]);
        Path hf = tmp.resolve("hf");
        String repo = "test-org/tiny-instella";
        Path snapshot = hf.resolve("hub/models--test-org--tiny-instella/snapshots/" + LocalHub.COMMIT);
        try (LocalHub hub = new LocalHub(repo, repoDir)) {
            // info before any download: configs only, parameter count from config.json
            ChildCli.Result info = ChildCli.run(env(hf, hub.endpoint(), false), Duration.ofSeconds(60), "info", repo);
            assertThat(info.exitCode()).as(info.err()).isZero();
            assertThat(info.out()).contains("weights not downloaded yet").contains("from config.json")
                    .contains("image tokens 576 per tile");
            assertThat(hub.downloaded).doesNotContain("model.safetensors", "tokenizer.json");

            ChildCli.Result r = ChildCli.run(env(hf, hub.endpoint(), false), Duration.ofSeconds(120), "download", repo);
            assertThat(r.exitCode()).as(r.err()).isZero();
            assertThat(r.out().strip()).isEqualTo(snapshot.toString());
            assertThat(hub.downloaded).contains("model.safetensors", "tokenizer.json", "config.json",
                    "generation_config.json", "vision_tower/config.json", "vision_tower/preprocessor_config.json")
                    .doesNotContain("pytorch_model.bin", "README.md", "modeling_instellavl.py", "vision_tower/model.safetensors");
            try (Stream<Path> s = Files.walk(snapshot)) {
                List<String> names = s.filter(p -> !Files.isDirectory(p)).map(p -> snapshot.relativize(p).toString()).sorted().toList();
                assertThat(names).containsExactly("config.json", "generation_config.json", "model.safetensors",
                        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vision_tower/config.json",
                        "vision_tower/preprocessor_config.json");
            }
            assertThat(Files.mismatch(snapshot.resolve("model.safetensors"), repoDir.resolve("model.safetensors"))).isEqualTo(-1L);
        }
        // The Hub is gone: offline, everything comes from the cache.
        String gone = closedPort();
        ChildCli.Result r = ChildCli.run(env(hf, gone, true), Duration.ofSeconds(120), "run", "--model", repo,
                "--image", SHAPES.toString(), "--max-new-tokens", "4", "--ignore-eos", "Describe this image.");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out().strip()).isNotEmpty();
        assertThat(r.err()).contains("load ").contains("tok/s");
        ChildCli.Result info = ChildCli.run(env(hf, gone, true), Duration.ofSeconds(60), "info", repo);
        assertThat(info.exitCode()).as(info.err()).isZero();
        assertThat(info.out()).contains("files        " + snapshot).doesNotContain("not downloaded").contains("(BF16,");
    }
}
