package io.instella.train.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraConfig;
import io.instella.model.lora.LoraException;
import io.instella.model.lora.LoraPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The peft layout: adapter_config.json fields, adapter_model.safetensors key names, reading peft's files, errors. */
class LoraFormatTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static Path fixture() throws URISyntaxException {
        return Path.of(LoraFormatTest.class.getResource("/lora/peft-0.13/adapter_config.json").toURI()).getParent();
    }

    /** An adapter directory as peft's save_pretrained leaves it: the fixture config and hand-written tensors. */
    Path peftAdapter() throws Exception {
        Path dir = tmp.resolve("peft");
        Files.createDirectories(dir);
        Files.copy(fixture().resolve("adapter_config.json"), dir.resolve("adapter_config.json"));
        var t = PeftFiles.tensors();
        // o_proj of layer 0: in 3, out 4, r 2 (BF16, as a bf16 model's adapter is saved); values exact in bf16.
        t.put("base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight", PeftFiles.bf16(new float[]{1, 2, 3, -1, -2, -3}, 2, 3));
        t.put("base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight", PeftFiles.bf16(new float[]{0.5f, 0, 0, 0.25f, 1, 1, -1, 2}, 4, 2));
        t.put("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", PeftFiles.f32(new float[]{0.1f, 0.2f}, 2, 1));
        t.put("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight", PeftFiles.f32(new float[]{3, 4}, 1, 2));
        t.put("base_model.model.model.mm_projector.0.weight", PeftFiles.f32(new float[]{1, 2, 3, 4, 5, 6}, 3, 2));
        t.put("base_model.model.model.mm_projector.0.bias", PeftFiles.f32(new float[]{7, 8, 9}, 3));
        PeftFiles.write(dir.resolve("adapter_model.safetensors"), t, Map.of("format", "pt"));
        return dir;
    }

    @Test
    void readsWhatPeftWrites() throws Exception {
        LoraAdapter a = LoraAdapter.read(peftAdapter());
        LoraConfig c = a.config();
        assertThat(c.r()).isEqualTo(2);
        assertThat(c.loraAlpha()).isEqualTo(16.0);
        assertThat(c.loraDropout()).isEqualTo(0.05);
        assertThat(c.targetModules()).containsExactly("o_proj", "down_proj");
        assertThat(c.targetModulesRegex()).isNull();
        assertThat(c.modulesToSave()).containsExactly("mm_projector");
        assertThat(c.baseModelNameOrPath()).isEqualTo("amd/Instella-VL-1B");
        assertThat(a.scale("model.layers.0.self_attn.o_proj")).isEqualTo(8f); // alpha / r

        assertThat(a.pairs()).containsOnlyKeys("model.layers.0.self_attn.o_proj", "model.layers.0.mlp.down_proj");
        LoraPair o = a.pairs().get("model.layers.0.self_attn.o_proj");
        assertThat(o.baseWeightName()).isEqualTo("model.layers.0.self_attn.o_proj.weight");
        assertThat(new int[]{o.r(), o.in(), o.out()}).containsExactly(2, 3, 4);
        assertThat(o.a()).containsExactly(1, 2, 3, -1, -2, -3);
        assertThat(o.b()).containsExactly(0.5f, 0, 0, 0.25f, 1, 1, -1, 2);
        LoraPair d = a.pairs().get("model.layers.0.mlp.down_proj");
        assertThat(new int[]{d.r(), d.in(), d.out()}).containsExactly(2, 1, 1);

        assertThat(a.replacements()).containsOnlyKeys("model.mm_projector.0.weight", "model.mm_projector.0.bias");
        assertThat(a.replacements().get("model.mm_projector.0.bias").toFloatArray()).containsExactly(7, 8, 9);
        assertThat(a.replacements().get("model.mm_projector.0.weight").shape()).containsExactly(3, 2);
    }

    @Test
    void writesPeftKeyNamesAndConfigFields() throws Exception {
        LoraConfig config = LoraConfig.of(4, 8, 0.1, List.of(), List.of("mm_projector"), "/models/instella");
        LoraAdapter adapter = LoraAdapter.builder(config)
                .pair("model.layers.3.self_attn.q_proj.weight", 4, 2, 3, seq(8, 0.5f), seq(12, -1f))
                .pair("model.layers.3.mlp.gate_proj", 4, 2, 5, seq(8, 2f), seq(20, 1f))
                .replacement("model.mm_projector.2.weight", seq(6, 3f), 2, 3)
                .build();
        Path dir = tmp.resolve("ours");
        adapter.write(dir);

        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("adapter_config.json", "adapter_model.safetensors");
        }
        JsonNode header = JSON.readTree(PeftFiles.header(dir.resolve("adapter_model.safetensors")));
        List<String> keys = new ArrayList<>();
        header.fieldNames().forEachRemaining(keys::add);
        assertThat(keys).containsExactlyInAnyOrder("__metadata__",
                "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight",
                "base_model.model.model.layers.3.self_attn.q_proj.lora_B.weight",
                "base_model.model.model.layers.3.mlp.gate_proj.lora_A.weight",
                "base_model.model.model.layers.3.mlp.gate_proj.lora_B.weight",
                "base_model.model.model.mm_projector.2.weight");
        assertThat(header.get("__metadata__").get("format").asText()).isEqualTo("pt");
        JsonNode a = header.get("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight");
        assertThat(a.get("dtype").asText()).isEqualTo("F32");
        assertThat(JSON.convertValue(a.get("shape"), long[].class)).containsExactly(4, 2); // [r, in]
        assertThat(JSON.convertValue(header.get("base_model.model.model.layers.3.mlp.gate_proj.lora_B.weight").get("shape"), long[].class))
                .containsExactly(5, 4); // [out, r]

        String text = Files.readString(dir.resolve("adapter_config.json"));
        JsonNode cfg = JSON.readTree(text);
        assertThat(cfg.get("peft_type").asText()).isEqualTo("LORA");
        assertThat(cfg.get("task_type").asText()).isEqualTo("CAUSAL_LM");
        assertThat(cfg.get("r").isInt()).isTrue();
        assertThat(cfg.get("r").asInt()).isEqualTo(4);
        assertThat(cfg.get("lora_alpha").isIntegralNumber()).as("peft types lora_alpha as int").isTrue();
        assertThat(cfg.get("lora_alpha").asInt()).isEqualTo(8);
        assertThat(cfg.get("lora_dropout").asDouble()).isEqualTo(0.1);
        assertThat(cfg.get("bias").asText()).isEqualTo("none");
        assertThat(cfg.get("fan_in_fan_out").asBoolean()).isFalse();
        assertThat(cfg.get("use_rslora").asBoolean()).isFalse();
        assertThat(cfg.get("use_dora").asBoolean()).isFalse();
        assertThat(cfg.get("inference_mode").asBoolean()).isTrue();
        assertThat(cfg.get("base_model_name_or_path").asText()).isEqualTo("/models/instella");
        assertThat(cfg.get("modules_to_save").get(0).asText()).isEqualTo("mm_projector");
        // The default target is a regex string (peft's string form), fullmatched against module names.
        assertThat(cfg.get("target_modules").isTextual()).isTrue();
        assertThat(cfg.get("target_modules").asText()).isEqualTo(LoraConfig.LANGUAGE_MODEL_LINEAR);
        List<String> fields = new ArrayList<>();
        cfg.fieldNames().forEachRemaining(fields::add);
        assertThat(fields).as("sorted keys, as peft's json.dumps(sort_keys=True)").isSorted();

        LoraAdapter back = LoraAdapter.read(dir);
        assertThat(back.config()).isEqualTo(config);
        assertThat(back.pairs()).containsOnlyKeys("model.layers.3.self_attn.q_proj", "model.layers.3.mlp.gate_proj");
        assertThat(back.pairs().get("model.layers.3.mlp.gate_proj").a()).containsExactly(adapter.pairs().get("model.layers.3.mlp.gate_proj").a());
        assertThat(back.pairs().get("model.layers.3.mlp.gate_proj").b()).containsExactly(adapter.pairs().get("model.layers.3.mlp.gate_proj").b());
        assertThat(back.replacements().get("model.mm_projector.2.weight").toFloatArray()).containsExactly(seq(6, 3f));
    }

    @Test
    void theBuilderRefusesARankTheConfigDoesNotSay() {
        assertThatThrownBy(() -> LoraAdapter.builder(LoraConfig.of(4, 8, 0, null, null, null))
                .pair("model.layers.0.self_attn.q_proj", 2, 3, 3, new float[6], new float[6]))
                .hasMessageContaining("rank 2 differs from the config's r = 4");
    }

    @Test
    void peftFixtureRoundTripsThroughOurWriter() throws Exception {
        LoraAdapter a = LoraAdapter.read(peftAdapter());
        Path again = tmp.resolve("again");
        a.write(again);
        LoraAdapter b = LoraAdapter.read(again);
        assertThat(b.config()).isEqualTo(a.config());
        assertThat(b.pairs().keySet()).containsExactlyElementsOf(a.pairs().keySet());
        for (String m : a.pairs().keySet()) {
            assertThat(b.pairs().get(m).a()).containsExactly(a.pairs().get(m).a());
            assertThat(b.pairs().get(m).b()).containsExactly(a.pairs().get(m).b());
        }
        assertThat(b.replacements().keySet()).containsExactlyElementsOf(a.replacements().keySet());
    }

    @Test
    void targetSelectionFollowsPeft() {
        LoraConfig byDefault = LoraConfig.of(8, 16, 0, null, null, null);
        assertThat(byDefault.targets("model.layers.0.self_attn.q_proj")).isTrue();
        assertThat(byDefault.targets("model.layers.17.mlp.down_proj")).isTrue();
        assertThat(byDefault.targets("model.vision_tower.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj")).isFalse();
        assertThat(byDefault.targets("model.mm_projector.0")).isFalse();
        assertThat(byDefault.targets("model.embed_tokens")).isFalse();
        assertThat(byDefault.targets("lm_head")).isFalse();

        // A list matches name suffixes after a dot, or the whole name: the vision tower's q_proj too, as in peft.
        LoraConfig list = LoraConfig.of(8, 16, 0, List.of("q_proj", "mlp.up_proj"), null, null);
        assertThat(list.targets("model.layers.0.self_attn.q_proj")).isTrue();
        assertThat(list.targets("model.vision_tower.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj")).isTrue();
        assertThat(list.targets("model.layers.0.mlp.up_proj")).isTrue();
        assertThat(list.targets("model.layers.0.self_attn.xq_proj")).isFalse();
        assertThat(list.targets("q_proj")).isTrue();

        // One entry with regex characters is a regex over the whole name (peft's string form).
        LoraConfig regex = LoraConfig.of(8, 16, 0, List.of("model\\.layers\\.[01]\\.self_attn\\.v_proj"), null, null);
        assertThat(regex.targetModulesRegex()).isNotNull();
        assertThat(regex.targets("model.layers.1.self_attn.v_proj")).isTrue();
        assertThat(regex.targets("model.layers.2.self_attn.v_proj")).isFalse();
        assertThat(regex.targets("xmodel.layers.1.self_attn.v_proj")).isFalse();

        // peft's all-linear shorthand: every Linear but the output head, the vision tower and projector included.
        LoraConfig all = LoraConfig.of(8, 16, 0, List.of("all-linear"), null, null);
        assertThat(all.targets("model.layers.3.mlp.gate_proj")).isTrue();
        assertThat(all.targets("model.vision_tower.vision_tower.vision_model.encoder.layers.0.self_attn.out_proj")).isTrue();
        assertThat(all.targets("model.vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc2")).isTrue();
        assertThat(all.targets("model.mm_projector.2")).isTrue();
        assertThat(all.targets("lm_head")).isFalse();
        assertThat(all.targets("model.embed_tokens")).isFalse();
        assertThat(all.targets("model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding")).isFalse();

        // Modules to save are never adapted.
        LoraConfig saving = LoraConfig.of(8, 16, 0, List.of("0"), List.of("mm_projector"), null);
        assertThat(saving.targets("model.mm_projector.0")).isFalse();
        assertThat(saving.savesWhole("model.mm_projector.0.weight")).isTrue();
        assertThat(saving.savesWhole("model.mm_projector_x.0.weight")).isFalse();
    }

    @Test
    void scaleRslaAndPatterns() throws Exception {
        Path dir = tmp.resolve("patterns");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("adapter_config.json"), """
                {"peft_type": "LORA", "r": 4, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"],
                 "use_rslora": true, "rank_pattern": {"layers.1.self_attn.v_proj": 2}, "alpha_pattern": {"v_proj": 8}}
                """);
        LoraConfig c = LoraConfig.read(dir);
        assertThat(c.scaleFor("model.layers.0.self_attn.q_proj")).isEqualTo(32 / Math.sqrt(4));
        assertThat(c.rankFor("model.layers.1.self_attn.v_proj")).isEqualTo(2);
        assertThat(c.rankFor("model.layers.0.self_attn.v_proj")).isEqualTo(4);
        assertThat(c.scaleFor("model.layers.1.self_attn.v_proj")).isEqualTo(8 / Math.sqrt(2));
        assertThat(LoraConfig.of(8, 16, 0, null, null, null).scaleFor("model.layers.0.mlp.up_proj")).isEqualTo(2.0);
    }

    @Test
    void badAdaptersAreClearErrors() throws Exception {
        assertThatThrownBy(() -> LoraAdapter.read(tmp.resolve("nowhere")))
                .isInstanceOf(LoraException.class).hasMessageContaining("no such LoRA adapter directory");

        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> LoraAdapter.read(empty)).hasMessageContaining("no adapter_config.json");

        Path noWeights = Files.createDirectories(tmp.resolve("noweights"));
        Files.copy(fixture().resolve("adapter_config.json"), noWeights.resolve("adapter_config.json"));
        Files.writeString(noWeights.resolve("adapter_model.bin"), "pickle");
        assertThatThrownBy(() -> LoraAdapter.read(noWeights)).hasMessageContaining("no adapter_model.safetensors")
                .hasMessageContaining("safe_serialization=True");

        Path badJson = Files.createDirectories(tmp.resolve("badjson"));
        Files.writeString(badJson.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"r\": ");
        assertThatThrownBy(() -> LoraConfig.read(badJson)).isInstanceOf(LoraException.class)
                .hasMessageContaining("adapter_config.json: not valid JSON");

        assertConfigError("{\"peft_type\": \"IA3\", \"target_modules\": [\"q_proj\"]}", "only LoRA adapters");
        assertConfigError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"], \"use_dora\": true}", "'use_dora' is true");
        assertConfigError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"], \"r\": \"8\"}", "'r' is \"8\", expected a positive integer");
        assertConfigError("{\"peft_type\": \"LORA\", \"r\": 8}", "'target_modules' is missing");
        assertConfigError("{\"peft_type\": \"LORA\", \"target_modules\": \"(\"}", "not a valid regular expression");
        assertConfigError("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"], \"layers_to_transform\": [0]}", "'layers_to_transform' is set");

        // Weights that disagree with each other or with the config.
        assertWeightsError(Map.of("base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight", PeftFiles.f32(new float[4], 2, 2)),
                "has lora_A but no lora_B");
        var rankMismatch = PeftFiles.tensors();
        rankMismatch.put("base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight", PeftFiles.f32(new float[6], 3, 2));
        rankMismatch.put("base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight", PeftFiles.f32(new float[6], 2, 3));
        assertWeightsError(rankMismatch, "has rank 3 but adapter_config.json says r = 2");
        assertWeightsError(Map.of("model.layers.0.self_attn.o_proj.lora_A.weight", PeftFiles.f32(new float[4], 2, 2)),
                "does not start with 'base_model.model.'");
        assertWeightsError(Map.of("base_model.model.model.embed_tokens.lora_embedding_A", PeftFiles.f32(new float[4], 2, 2)),
                "embeddings and DoRA are not");
    }

    private void assertConfigError(String json, String message) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "cfg");
        Files.writeString(dir.resolve("adapter_config.json"), json);
        assertThatThrownBy(() -> LoraConfig.read(dir)).isInstanceOf(LoraException.class)
                .hasMessageContaining("adapter_config.json").hasMessageContaining(message);
    }

    private void assertWeightsError(Map<String, PeftFiles.Raw> tensors, String message) throws Exception {
        Path dir = Files.createTempDirectory(tmp, "w");
        Files.copy(fixture().resolve("adapter_config.json"), dir.resolve("adapter_config.json"));
        PeftFiles.write(dir.resolve("adapter_model.safetensors"), tensors, Map.of());
        assertThatThrownBy(() -> LoraAdapter.read(dir)).isInstanceOf(LoraException.class)
                .hasMessageContaining("adapter_model.safetensors").hasMessageContaining(message);
    }

    static float[] seq(int n, float start) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = start + 0.25f * i;
        return v;
    }
}
