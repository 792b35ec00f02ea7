package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Cache root, endpoint, token and offline resolution, as huggingface_hub's constants.py and _token.py. */
class HubEnvironmentTest {

    @TempDir
    Path tmp;

    private HubEnvironment env(Map<String, String> vars) {
        return new HubEnvironment(Map.copyOf(vars)::get, tmp.resolve("home"));
    }

    @Test
    void cacheRootPrecedence() {
        Map<String, String> vars = new HashMap<>();
        Path home = tmp.resolve("home");
        assertThat(env(vars).hubCache()).isEqualTo(home.resolve(".cache/huggingface/hub"));
        vars.put("XDG_CACHE_HOME", "/xdg");
        assertThat(env(vars).hubCache()).isEqualTo(Path.of("/xdg/huggingface/hub"));
        vars.put("HF_HOME", "~/hf");
        assertThat(env(vars).hubCache()).isEqualTo(home.resolve("hf/hub"));
        vars.put("HUGGINGFACE_HUB_CACHE", "/legacy");
        assertThat(env(vars).hubCache()).isEqualTo(Path.of("/legacy"));
        vars.put("HF_HUB_CACHE", "/explicit");
        assertThat(env(vars).hubCache()).isEqualTo(Path.of("/explicit"));
        vars.put("HF_HUB_CACHE", ""); // empty counts as unset
        assertThat(env(vars).hubCache()).isEqualTo(Path.of("/legacy"));
    }

    @Test
    void endpointDefaultsToHuggingFaceAndLosesTrailingSlashes() {
        assertThat(env(Map.of()).endpoint()).isEqualTo("https://huggingface.co");
        assertThat(env(Map.of("HF_ENDPOINT", "https://hf-mirror.com/")).endpoint())
                .isEqualTo("https://hf-mirror.com");
    }

    @Test
    void tokenFromEnvironmentThenTokenFile() throws IOException {
        Map<String, String> vars = new HashMap<>(Map.of("HF_HOME", tmp.resolve("hf").toString()));
        assertThat(env(vars).token()).isNull();
        Files.createDirectories(tmp.resolve("hf"));
        Files.writeString(tmp.resolve("hf/token"), "hf_from_file\r\n");
        assertThat(env(vars).token()).isEqualTo("hf_from_file");
        vars.put("HUGGING_FACE_HUB_TOKEN", "hf_legacy");
        assertThat(env(vars).token()).isEqualTo("hf_legacy");
        vars.put("HF_TOKEN", " hf_env ");
        assertThat(env(vars).token()).isEqualTo("hf_env");
        vars.put("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1");
        assertThat(env(vars).token()).isNull();

        Files.writeString(tmp.resolve("elsewhere"), "hf_custom_path");
        assertThat(env(Map.of("HF_TOKEN_PATH", tmp.resolve("elsewhere").toString())).token())
                .isEqualTo("hf_custom_path");
    }

    @Test
    void offlineAcceptsThePythonTruthyValues() {
        for (String yes : new String[] {"1", "true", "TRUE", "yes", "on"}) {
            assertThat(env(Map.of("HF_HUB_OFFLINE", yes)).offline()).as(yes).isTrue();
        }
        for (String no : new String[] {"0", "false", "no", ""}) {
            assertThat(env(Map.of("HF_HUB_OFFLINE", no)).offline()).as(no).isFalse();
        }
        assertThat(env(Map.of("TRANSFORMERS_OFFLINE", "1")).offline()).isTrue();
    }

    @Test
    void timeoutsFromTheEnvironment() {
        assertThat(env(Map.of("HF_HUB_ETAG_TIMEOUT", "30")).seconds("HF_HUB_ETAG_TIMEOUT", Duration.ofSeconds(10)))
                .isEqualTo(Duration.ofSeconds(30));
        assertThat(env(Map.of()).seconds("HF_HUB_ETAG_TIMEOUT", Duration.ofSeconds(10)))
                .isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void clientUsesTheInjectedEnvironmentOnly() {
        try (HubClient client = HubClient.builder()
                .environment(Map.of("HF_HOME", tmp.resolve("hf").toString(), "HF_HUB_OFFLINE", "yes",
                        "HF_TOKEN", "hf_x"))
                .userHome(tmp.resolve("home"))
                .build()) {
            assertThat(client.cacheDir()).isEqualTo(tmp.resolve("hf/hub"));
            assertThat(client.endpoint()).isEqualTo("https://huggingface.co");
            assertThat(client.isOffline()).isTrue();
            assertThat(client.hasToken()).isTrue();
        }
    }

    @Test
    void urlQuotingMatchesPythonQuote() {
        assertThat(HubClient.quote("refs/pr/1", "")).isEqualTo("refs%2Fpr%2F1");
        assertThat(HubClient.quote("sub dir/ä+b.json", "/")).isEqualTo("sub%20dir/%C3%A4%2Bb.json");
        assertThat(HubClient.quote("a-b_c.d~e", "")).isEqualTo("a-b_c.d~e");
    }

    @Test
    void etagNormalisationMatchesHuggingfaceHub() {
        assertThat(HubClient.normalizeEtag("\"abc\"")).isEqualTo("abc");
        assertThat(HubClient.normalizeEtag("W/\"abc\"")).isEqualTo("abc");
        assertThat(HubClient.normalizeEtag(null)).isNull();
    }

    @Test
    void fakeHubEtagsAreRealGitAndLfsHashes() {
        // the fixtures the cache tests rely on: git's blob hash of "hello world\n" and of the empty file
        assertThat(FakeHub.gitBlobSha1("hello world\n".getBytes())).isEqualTo(
                "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
        assertThat(FakeHub.gitBlobSha1(new byte[0])).isEqualTo("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assertThat(FakeHub.sha256Hex(new byte[0])).isEqualTo(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
