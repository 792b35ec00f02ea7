package io.instella.model.config;

import io.instella.core.testing.Golden;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Issue 14: every config.json / generation_config.json field is type- and range-checked, and a bad one is a
 * ConfigException naming the file and the field. Works on copies of the golden model's small files.
 */
class ConfigFieldsTest {
    @TempDir
    Path dir;

    @BeforeEach
    void copyGoldenConfigs() throws IOException {
        Path golden = Golden.resolve("model");
        Files.createDirectories(dir.resolve("vision_tower"));
        for (String f : new String[]{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "vision_tower/config.json", "vision_tower/preprocessor_config.json"}) {
            Files.copy(golden.resolve(f), dir.resolve(f));
        }
    }

    private void edit(String file, String from, String to) throws IOException {
        String text = Files.readString(dir.resolve(file));
        assertThat(text).as(file + " contains " + from).contains(from);
        Files.writeString(dir.resolve(file), text.replace(from, to));
    }

    private AbstractThrowableAssert<?, ? extends Throwable> configRefused(String from, String to) throws IOException {
        edit("config.json", from, to);
        return assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(dir.resolve("config.json").toString());
    }

    @Test
    void eosTokenIdAsIntListEmptyListOrNull() throws IOException {
        assertThat(InstellaConfig.load(dir).eosTokenIds()).containsExactly(50279);
        edit("config.json", "\"eos_token_id\": 50279", "\"eos_token_id\": [50279, 0]");
        assertThat(InstellaConfig.load(dir).eosTokenIds()).containsExactly(50279, 0);
        edit("config.json", "\"eos_token_id\": [50279, 0]", "\"eos_token_id\": []");
        assertThat(InstellaConfig.load(dir).eosTokenIds()).isEmpty();
        assertThat(InstellaConfig.load(dir).eosTokenId()).isEmpty();
        edit("config.json", "\"eos_token_id\": []", "\"eos_token_id\": null");
        assertThat(InstellaConfig.load(dir).eosTokenIds()).isEmpty();
    }

    /** "eos_token_id": [] used to end in a NullPointerException; now each source falls back to the next. */
    @Test
    void emptyEosFallsBackToGenerationConfigThenTokenizer() throws IOException {
        edit("config.json", "\"eos_token_id\": 50279", "\"eos_token_id\": []");
        InstellaConfig c = InstellaConfig.load(dir);
        assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).containsExactly(50279); // generation_config.json
        edit("generation_config.json", "\"eos_token_id\": 50279", "\"eos_token_id\": []");
        // tokenizer_config.json names "|||IP_ADDRESS|||", id 50279 in tokenizer.json
        assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).containsExactly(50279);
        edit("tokenizer_config.json", "\"eos_token\": \"|||IP_ADDRESS|||\"", "\"eos_token\": \"<|endoftext|>\"");
        assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).containsExactly(0);
        Files.delete(dir.resolve("tokenizer_config.json"));
        // special_tokens_map.json: {"content": "|||IP_ADDRESS|||", ...}
        assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).containsExactly(50279);
        Files.delete(dir.resolve("special_tokens_map.json"));
        assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).isEmpty();
        Files.delete(dir.resolve("generation_config.json"));
        assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).isEmpty();
    }

    @Test
    void eosTokenIdOfTheWrongType() throws IOException {
        configRefused("\"eos_token_id\": 50279", "\"eos_token_id\": \"</s>\"").hasMessageContaining("'eos_token_id'");
        edit("config.json", "\"eos_token_id\": \"</s>\"", "\"eos_token_id\": [50279, \"x\"]");
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class).hasMessageContaining("'eos_token_id[1]'");
        edit("config.json", "\"eos_token_id\": [50279, \"x\"]", "\"eos_token_id\": 50304");
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("'eos_token_id' = 50304 is out of range (0 to 50303)");
        edit("config.json", "\"eos_token_id\": 50304", "\"eos_token_id\": {}");
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class).hasMessageContaining("'eos_token_id'");
    }

    @Test
    void generationConfigFieldsAreTypeChecked() throws IOException {
        InstellaConfig c = InstellaConfig.load(dir);
        Path gen = dir.resolve("generation_config.json");
        String[][] bad = {
                {"\"eos_token_id\": []", "eos_token_id"}, // valid: falls back (checked above), so no error expected
                {"\"eos_token_id\": [1, -2]", "'eos_token_id[1]' = -2"},
                {"\"eos_token_id\": 2147483648", "'eos_token_id' = 2147483648"},
                {"\"pad_token_id\": \"pad\"", "'pad_token_id' must be an integer"},
                {"\"temperature\": \"hot\"", "'temperature' must be a number"},
                {"\"temperature\": -1", "'temperature' = -1.0 is out of range"},
                {"\"top_p\": 1.5", "'top_p' = 1.5 is out of range"},
                {"\"top_k\": 1e3", "'top_k' must be an integer"},
                {"\"max_new_tokens\": 99999999999999999999", "'max_new_tokens' = 99999999999999999999 is out of range"},
                {"\"do_sample\": \"yes\"", "'do_sample' must be true/false"},
        };
        for (String[] b : bad) {
            Files.writeString(gen, "{" + b[0] + "}");
            if (b[0].contains("[]")) {
                assertThat(GenerationDefaults.load(dir, c).eosTokenIds()).containsExactly(50279);
                continue;
            }
            assertThatThrownBy(() -> GenerationDefaults.load(dir, c)).as(b[0]).isInstanceOf(ConfigException.class)
                    .hasMessageContaining(gen.toString()).hasMessageContaining(b[1]);
        }
    }

    /** "num_hidden_layers": 2147483647 used to run out of memory while the loader built 15 billion tensor names. */
    @Test
    void numHiddenLayersPastTheBoundIsRefusedAtOnce() throws IOException {
        edit("config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 2147483647");
        assertTimeoutPreemptively(Duration.ofSeconds(5), () ->
                assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                        .hasMessageContaining("config.json").hasMessageContaining("'num_hidden_layers' = 2147483647 is out of range (1 to 1024)"));
        // A number past 2^64 must not wrap to a small valid one (18446744073709551618 mod 2^64 = 2).
        edit("config.json", "\"num_hidden_layers\": 2147483647", "\"num_hidden_layers\": 18446744073709551618");
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("'num_hidden_layers' = 18446744073709551618 is out of range");
    }

    @Test
    void everyDimensionIsBounded() throws IOException {
        String[][] cases = {
                {"\"hidden_size\": 128", "\"hidden_size\": 131072", "'hidden_size' = 131072 is out of range (1 to 65536)"},
                {"\"hidden_size\": 128", "\"hidden_size\": 0", "'hidden_size' = 0 is out of range"},
                {"\"hidden_size\": 128", "\"hidden_size\": 128.0", "'hidden_size' must be an integer"},
                {"\"intermediate_size\": 512", "\"intermediate_size\": 1000000000", "'intermediate_size'"},
                {"\"num_attention_heads\": 4", "\"num_attention_heads\": 4096", "'num_attention_heads' = 4096"},
                {"\"num_key_value_heads\": 4", "\"num_key_value_heads\": -4", "'num_key_value_heads' = -4"},
                {"\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3", "not a multiple of num_key_value_heads"},
                {"\"vocab_size\": 50304", "\"vocab_size\": 2147483647", "'vocab_size' = 2147483647"},
                {"\"max_position_embeddings\": 2048", "\"max_position_embeddings\": 2147483647", "'max_position_embeddings'"},
                {"\"tokenizer_model_max_length\": 32768", "\"tokenizer_model_max_length\": 1e30", "'tokenizer_model_max_length' must be an integer"},
                {"\"rope_theta\": 10000.0", "\"rope_theta\": -1", "'rope_theta'"},
                {"\"rope_theta\": 10000.0", "\"rope_theta\": \"big\"", "'rope_theta' must be a number"},
                {"\"clip_qkv\": null", "\"clip_qkv\": \"8\"", "'clip_qkv' must be a number"},
                {"\"pad_token_id\": 1", "\"pad_token_id\": [1]", "'pad_token_id' must be an integer"},
                {"\"mm_hidden_size\": 64", "\"mm_hidden_size\": 4294967360", "'mm_hidden_size' = 4294967360"},
                {"\"mm_vision_select_layer\": -2", "\"mm_vision_select_layer\": -99999999999", "'mm_vision_select_layer'"},
                {"\"mlp2x_gelu\"", "\"mlp99999999999x_gelu\"", "mm_projector_type 'mlp99999999999x_gelu' is not supported"},
                {"\"mlp2x_gelu\"", "\"mlp100x_gelu\"", "the depth must be 1 to 64"},
                {"\"image_aspect_ratio\": \"anyres\"", "\"image_aspect_ratio\": \"anyres_max_0\"", "N must be 1 to 1024"},
                {"\"image_aspect_ratio\": \"anyres\"", "\"image_aspect_ratio\": \"anyres_max_99999999999999\"", "is not supported"},
        };
        String original = Files.readString(dir.resolve("config.json"));
        for (String[] c : cases) {
            Files.writeString(dir.resolve("config.json"), original);
            configRefused(c[0], c[1]).as(c[1]).hasMessageContaining(c[2]);
        }
        // Pinpoints are checked as written: 4294967632 used to wrap to 336 and pass.
        Files.writeString(dir.resolve("config.json"), original);
        edit("config.json", "[\n      336,\n      336\n    ]", "[4294967632, 336]");
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("image_grid_pinpoints").hasMessageContaining("4294967632");
    }

    @Test
    void visionTowerConfigIsBoundedAndNamed() throws IOException {
        String vision = Files.readString(dir.resolve("vision_tower/config.json"));
        String[][] cases = {
                {"\"image_size\": 336", "\"image_size\": 1000000", "'image_size' = 1000000 is out of range (1 to 4096)"},
                {"\"patch_size\": 14", "\"patch_size\": 0", "'patch_size' = 0"},
                {"\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2147483647", "'num_hidden_layers' = 2147483647"},
                {"\"num_channels\": 3", "\"num_channels\": 4", "'num_channels' = 4"},
                {"\"layer_norm_eps\": 1e-05", "\"layer_norm_eps\": \"small\"", "'layer_norm_eps' must be a number"},
        };
        Path file = dir.resolve("vision_tower/config.json");
        for (String[] c : cases) {
            assertThat(vision).as(c[0]).contains(c[0]);
            Files.writeString(file, vision.replace(c[0], c[1]));
            assertThatThrownBy(() -> InstellaConfig.load(dir)).as(c[1]).isInstanceOf(ConfigException.class)
                    .hasMessageContaining(file.toString()).hasMessageContaining(c[2]);
        }
        // Embedded in config.json, the field is named with its object.
        Files.writeString(file, vision);
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json")).replaceFirst("\\{",
                "{\"vision_config\": {\"hidden_size\": 64, \"intermediate_size\": 256, \"num_hidden_layers\": 3,"
                        + " \"num_attention_heads\": 4, \"image_size\": 99999999999, \"patch_size\": 14},"));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("config.json").hasMessageContaining("'vision_config.image_size' = 99999999999");
    }

    @Test
    void nonRegularAndOversizedConfigFiles() throws IOException {
        Files.delete(dir.resolve("config.json"));
        Files.createDirectory(dir.resolve("config.json"));
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("not a regular file");
        Files.delete(dir.resolve("config.json"));
        Files.write(dir.resolve("config.json"), new byte[(int) Json.MAX_FILE_BYTES + 1]);
        assertThatThrownBy(() -> InstellaConfig.load(dir)).isInstanceOf(ConfigException.class).hasMessageContaining("too large");
    }
}
