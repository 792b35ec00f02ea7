package io.instella.train.init;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.Tensor;
import io.instella.core.testing.Golden;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Test fixture: the golden tiny Instella checkpoint taken apart into what {@link InstellaAssembly} starts from — a
 * Hugging Face OLMo directory (OlmoForCausalLM) and a CLIP directory (CLIPVisionModel or a full CLIPModel) — written
 * into a temporary folder. The CLIP weights are the golden model's fine-tuned tower (its
 * {@code model.vision_tower.vision_tower.vision_model.*}), so assembling the parts with the golden projector and
 * newline gives back the golden model.
 */
final class GoldenSplit {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOWER = "model.vision_tower.vision_tower.vision_model.";
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "generation_config.json");

    private GoldenSplit() {}

    static Path goldenModel() { return Golden.resolve("model"); }

    /** The golden config without the multimodal fields: an OLMo config as AMD-OLMo's would be. */
    static ObjectNode olmoConfig() throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(goldenModel().resolve("config.json").toFile());
        for (Iterator<String> it = c.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (k.startsWith("mm_") || k.startsWith("image_") || k.startsWith("tokenizer_")
                    || List.of("online_training", "use_mm_proj", "vision_tower_pretrained").contains(k)) it.remove();
        }
        c.put("model_type", "olmo");
        c.putArray("architectures").add("OlmoForCausalLM");
        c.put("_name_or_path", "amd/AMD-OLMo-1B-SFT");
        return c;
    }

    /**
     * An HF OLMo directory: the golden LM tensors, plus what real exports carry and the assembly must drop (a tied
     * lm_head copy, a RoPE inv_freq buffer). {@code shards} > 1 writes model.safetensors.index.json and shards.
     */
    static Path olmo(Path parent, int shards) throws IOException {
        Path dir = Files.createDirectories(parent.resolve("olmo"));
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(olmoConfig()));
        for (String f : TOKENIZER_FILES) Files.copy(goldenModel().resolve(f), dir.resolve(f));
        try (Checkpoint g = Checkpoint.open(goldenModel())) {
            List<Tensor> lm = new ArrayList<>();
            for (String n : g.names()) {
                if (n.startsWith("model.embed_tokens.") || n.startsWith("model.layers.")) lm.add(g.get(n));
            }
            Tensor embed = g.get("model.embed_tokens.weight");
            lm.add(new Tensor("lm_head.weight", embed.dtype(), embed.shape(), embed.data()));
            lm.add(Tensor.ofFloats("model.layers.0.self_attn.rotary_emb.inv_freq", new float[16], 16));
            if (shards <= 1) {
                SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
                lm.forEach(w::add);
                w.write(dir.resolve("model.safetensors"));
            } else {
                ObjectNode index = JSON.createObjectNode();
                index.putObject("metadata").put("total_size", 0);
                ObjectNode map = index.putObject("weight_map");
                for (int s = 0; s < shards; s++) {
                    String file = String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
                    SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
                    for (int i = s; i < lm.size(); i += shards) {
                        w.add(lm.get(i));
                        map.put(lm.get(i).name(), file);
                    }
                    w.write(dir.resolve(file));
                }
                Files.writeString(dir.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index));
            }
        }
        return dir;
    }

    /** The golden tower config as a CLIPVisionModel's config.json, naming the hub repo it stands in for. */
    static ObjectNode visionConfig() throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(goldenModel().resolve("vision_tower/config.json").toFile());
        c.put("_name_or_path", "openai/clip-vit-large-patch14-336");
        return c;
    }

    /** A CLIPVisionModel directory (vision_model.* plus the position_ids buffer some exports keep). */
    static Path clipVision(Path parent) throws IOException {
        Path dir = Files.createDirectories(parent.resolve("clip-vision"));
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(visionConfig()));
        Files.copy(goldenModel().resolve("vision_tower/preprocessor_config.json"), dir.resolve("preprocessor_config.json"));
        writeTower(dir, Map.of());
        return dir;
    }

    /**
     * A full CLIPModel directory: config with vision_config (some fields left to their defaults, as transformers
     * writes them) and text_config; tensors of both halves, the projections and logit_scale.
     */
    static Path clipFull(Path parent) throws IOException {
        Path dir = Files.createDirectories(parent.resolve("clip-full"));
        ObjectNode vision = visionConfig();
        vision.remove(List.of("_name_or_path", "architectures", "torch_dtype", "transformers_version",
                "hidden_act", "layer_norm_eps", "num_channels", "initializer_factor", "attention_dropout"));
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("CLIPModel");
        c.put("_name_or_path", "openai/clip-vit-large-patch14-336");
        c.put("model_type", "clip").put("projection_dim", 32).put("logit_scale_init_value", 2.6592)
                .put("torch_dtype", "bfloat16").put("transformers_version", "4.40.2");
        c.set("vision_config", vision);
        c.putObject("text_config").put("hidden_size", 8).put("num_hidden_layers", 1).put("model_type", "clip_text_model");
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(c));
        Files.copy(goldenModel().resolve("vision_tower/preprocessor_config.json"), dir.resolve("preprocessor_config.json"));
        writeTower(dir, Map.of(
                "text_model.embeddings.token_embedding.weight", Tensor.ofFloats("", new float[80], 10, 8),
                "text_model.final_layer_norm.weight", Tensor.ofFloats("", new float[8], 8),
                "text_projection.weight", Tensor.ofFloats("", new float[32 * 8], 32, 8),
                "visual_projection.weight", Tensor.ofFloats("", new float[32 * 64], 32, 64),
                "logit_scale", Tensor.ofFloats("", new float[]{2.6592f})));
        return dir;
    }

    private static void writeTower(Path dir, Map<String, Tensor> extra) throws IOException {
        try (Checkpoint g = Checkpoint.open(goldenModel())) {
            SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
            for (String n : g.names()) {
                if (!n.startsWith(TOWER)) continue;
                Tensor t = g.get(n);
                w.add(new Tensor("vision_model." + n.substring(TOWER.length()), t.dtype(), t.shape(), t.data()));
            }
            long[] ids = new long[577];
            for (int i = 0; i < ids.length; i++) ids[i] = i;
            w.addLongs("vision_model.embeddings.position_ids", ids, 1, 577);
            extra.forEach((name, t) -> w.add(new Tensor(name, t.dtype(), t.shape(), t.data())));
            w.write(dir.resolve("model.safetensors"));
        }
    }
}
