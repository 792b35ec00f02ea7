package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** fnmatch semantics, as huggingface_hub's filter_repo_objects applies them. */
class GlobsTest {

    private static final List<String> FILES = List.of("config.json", "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer/vocab.json",
            "onnx/model.onnx", "README.md", ".gitattributes");

    @Test
    void starMatchesAcrossSlashes() {
        assertThat(Globs.filter(FILES, List.of("*.json")))
                .containsExactly("config.json", "model.safetensors.index.json", "tokenizer/vocab.json");
    }

    @Test
    void questionMarksSetsAndNegatedSets() {
        assertThat(Globs.filter(FILES, List.of("model-0000?-of-00002.safetensors"))).hasSize(2);
        assertThat(Globs.filter(FILES, List.of("model-0000[1]-*"))).containsExactly(
                "model-00001-of-00002.safetensors");
        assertThat(Globs.filter(FILES, List.of("model-0000[!1]-*"))).containsExactly(
                "model-00002-of-00002.safetensors");
        assertThat(Globs.filter(FILES, List.of("[A-Z]*"))).containsExactly("README.md");
    }

    @Test
    void trailingSlashMeansTheWholeFolder() {
        assertThat(Globs.filter(FILES, List.of("onnx/"))).containsExactly("onnx/model.onnx");
    }

    @Test
    void severalPatternsUnionAndOrderIsKept() {
        assertThat(Globs.filter(FILES, List.of("README.md", "config.json")))
                .containsExactly("config.json", "README.md");
        assertThat(Globs.filter(FILES, null)).isEqualTo(FILES);
        assertThat(Globs.filter(FILES, List.of())).isEmpty();
    }

    @Test
    void matchingIsCaseSensitiveAndLiteralOtherwise() {
        assertThat(Globs.filter(FILES, List.of("readme.md"))).isEmpty();
        assertThat(Globs.filter(List.of("a+b(c).txt", "ab.txt"), List.of("a+b(c).txt"))).containsExactly(
                "a+b(c).txt");
        assertThat(Globs.filter(List.of("[x"), List.of("[x"))).containsExactly("[x");
    }
}
