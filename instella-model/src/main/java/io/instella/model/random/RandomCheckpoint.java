package io.instella.model.random;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.kernels.Parallel;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.model.InstellaException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Writes a randomly initialised Instella-VL checkpoint with the real structure and tensor names in
 * Hugging Face layout (config.json, model.safetensors, generation_config.json, vision_tower/ configs,
 * tokenizer files), at any size from tiny to the full Instella-VL-1B shape. Weights are N(0, 0.02)
 * (the config's initializer_range), norms near 1, image_newline N(0, 1/sqrt(H)) as stage 2 creates it.
 * The same preset and seed always give the same bytes.
 */
public final class RandomCheckpoint {

    /** Model sizes. Vocabulary is always the checkpoint's 50304 rows. */
    public record Preset(String name, int visionHidden, int visionIntermediate, int visionLayers, int visionHeads,
                         int hidden, int intermediate, int layers, int heads) {

        public static final Preset TINY = new Preset("tiny", 64, 256, 3, 4, 128, 512, 2, 4);
        public static final Preset SMALL = new Preset("small", 256, 1024, 4, 4, 512, 2048, 4, 8);
        public static final Preset INSTELLA_VL_1B = new Preset("instella-vl-1b", 1024, 4096, 24, 16, 2048, 8192, 16, 16);

        /** Checks the shape is one the model code accepts (even head dims, widths divisible by heads). */
        public void validate() {
            int[] all = {visionHidden, visionIntermediate, visionLayers, visionHeads, hidden, intermediate, layers, heads};
            for (int v : all) if (v < 1) throw new InstellaException("model sizes must be positive: " + this);
            if (hidden % heads != 0 || (hidden / heads) % 2 != 0) {
                throw new InstellaException("hidden size " + hidden + " must split into " + heads + " heads of even width");
            }
            if (visionHidden % visionHeads != 0) {
                throw new InstellaException("vision hidden size " + visionHidden + " must be divisible by " + visionHeads + " heads");
            }
            if (visionLayers < 2) throw new InstellaException("the vision tower needs at least 2 layers (the last one is skipped by select layer -2)");
        }

        public static Preset named(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "tiny" -> TINY;
                case "small" -> SMALL;
                case "instella-vl-1b", "full", "1b" -> INSTELLA_VL_1B;
                default -> throw new InstellaException("unknown preset '" + name + "' (tiny, small, instella-vl-1b)");
            };
        }
    }

    public static final int VOCAB = 50304;
    private static final String V = "model.vision_tower.vision_tower.vision_model.";
    private static final int IMAGE = 336, PATCH = 14;

    private RandomCheckpoint() {}

    /**
     * @param tokenizerJson a tokenizer.json to copy into the checkpoint (the GPT-NeoX/OLMo tokenizer)
     */
    public static void write(Preset p, Path out, Path tokenizerJson, long seed, DType dtype) throws IOException {
        if (dtype != DType.BF16 && dtype != DType.F16 && dtype != DType.F32) {
            throw new InstellaException("random checkpoints can be bf16, f16 or f32, not " + dtype);
        }
        if (tokenizerJson == null || !Files.isRegularFile(tokenizerJson)) {
            throw new InstellaException("a tokenizer.json is needed (--tokenizer FILE): " + tokenizerJson + " does not exist");
        }
        Files.createDirectories(out.resolve("vision_tower"));
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        json.writeValue(out.resolve("config.json").toFile(), config(json, p, dtype));
        ObjectNode gen = json.createObjectNode();
        gen.put("_from_model_config", true).put("eos_token_id", 50279).put("pad_token_id", 1);
        json.writeValue(out.resolve("generation_config.json").toFile(), gen);
        json.writeValue(out.resolve("vision_tower/config.json").toFile(), visionConfig(json, p, dtype));
        json.writeValue(out.resolve("vision_tower/preprocessor_config.json").toFile(), preprocessor(json));
        Files.copy(tokenizerJson, out.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        ObjectNode tc = json.createObjectNode();
        tc.put("tokenizer_class", "GPTNeoXTokenizer").put("eos_token", "|||IP_ADDRESS|||").put("pad_token", "<|padding|>")
                .put("add_bos_token", false).put("add_eos_token", false).put("model_max_length", 32768);
        json.writeValue(out.resolve("tokenizer_config.json").toFile(), tc);
        ObjectNode sm = json.createObjectNode();
        sm.put("eos_token", "|||IP_ADDRESS|||").put("pad_token", "<|padding|>");
        json.writeValue(out.resolve("special_tokens_map.json").toFile(), sm);

        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        Init init = new Init(seed, dtype, w);
        int h = p.hidden, vh = p.visionHidden;
        init.normal("model.embed_tokens.weight", 0.02, VOCAB, h);
        init.normal("model.image_newline", 1.0 / Math.sqrt(h), h);
        for (int i = 0; i < p.layers; i++) {
            String l = "model.layers." + i + ".";
            init.normal(l + "self_attn.q_proj.weight", 0.02, h, h);
            init.normal(l + "self_attn.k_proj.weight", 0.02, h, h);
            init.normal(l + "self_attn.v_proj.weight", 0.02, h, h);
            init.normal(l + "self_attn.o_proj.weight", 0.02, h, h);
            init.normal(l + "mlp.gate_proj.weight", 0.02, p.intermediate, h);
            init.normal(l + "mlp.up_proj.weight", 0.02, p.intermediate, h);
            init.normal(l + "mlp.down_proj.weight", 0.02, h, p.intermediate);
        }
        init.normal("model.mm_projector.0.weight", 0.02, h, vh);
        init.normal("model.mm_projector.0.bias", 0.02, h);
        init.normal("model.mm_projector.2.weight", 0.02, h, h);
        init.normal("model.mm_projector.2.bias", 0.02, h);
        init.normal(V + "embeddings.class_embedding", 0.02, vh);
        init.normal(V + "embeddings.patch_embedding.weight", 0.02, vh, 3, PATCH, PATCH);
        init.normal(V + "embeddings.position_embedding.weight", 0.02, (IMAGE / PATCH) * (IMAGE / PATCH) + 1, vh);
        init.norm(V + "pre_layrnorm", vh);
        init.norm(V + "post_layernorm", vh);
        for (int i = 0; i < p.visionLayers; i++) {
            String l = V + "encoder.layers." + i + ".";
            init.norm(l + "layer_norm1", vh);
            init.norm(l + "layer_norm2", vh);
            for (String proj : new String[]{"q_proj", "k_proj", "v_proj", "out_proj"}) {
                init.normal(l + "self_attn." + proj + ".weight", 0.02, vh, vh);
                init.normal(l + "self_attn." + proj + ".bias", 0.02, vh);
            }
            init.normal(l + "mlp.fc1.weight", 0.02, p.visionIntermediate, vh);
            init.normal(l + "mlp.fc1.bias", 0.02, p.visionIntermediate);
            init.normal(l + "mlp.fc2.weight", 0.02, vh, p.visionIntermediate);
            init.normal(l + "mlp.fc2.bias", 0.02, vh);
        }
        w.write(out.resolve("model.safetensors"));
    }

    /** Deterministic per-tensor Gaussian fill, in parallel blocks each with its own seeded stream. */
    private record Init(long seed, DType dtype, SafeTensorsWriter writer) {
        void normal(String name, double std, long... shape) {
            fill(name, shape, 0.0, std);
        }

        void norm(String prefix, int d) {
            fill(prefix + ".weight", new long[]{d}, 1.0, 0.02);
            fill(prefix + ".bias", new long[]{d}, 0.0, 0.02);
        }

        private void fill(String name, long[] shape, double mean, double std) {
            long n = 1;
            for (long s : shape) n *= s;
            int count = Math.toIntExact(n);
            long tensorSeed = seed * 0x9E3779B97F4A7C15L ^ name.hashCode();
            writer.addDeferred(name, dtype, shape, () -> {
                float[] v = new float[count];
                int block = 1 << 16;
                Parallel.forRange((count + block - 1) / block, 1, (b0, b1) -> {
                    for (int b = b0; b < b1; b++) {
                        SplittableRandom r = new SplittableRandom(tensorSeed + b * 0x632BE59BD9B4E019L);
                        int end = Math.min(count, (b + 1) * block);
                        for (int i = b * block; i < end; i++) v[i] = (float) (mean + std * r.nextGaussian());
                    }
                });
                MemorySegment seg = switch (dtype) {
                    case BF16 -> SafeTensorsWriter.toBf16(v);
                    case F16 -> SafeTensorsWriter.toF16(v);
                    default -> SafeTensorsWriter.toF32(v);
                };
                return seg;
            });
        }
    }

    private static ObjectNode config(ObjectMapper json, Preset p, DType dtype) {
        ObjectNode c = json.createObjectNode();
        c.putArray("architectures").add("InstellaVLForCausalLM");
        c.put("attention_bias", false).put("attention_dropout", 0.0).putNull("clip_qkv");
        c.put("eos_token_id", 50279).put("hidden_act", "silu").put("hidden_size", p.hidden);
        c.put("image_aspect_ratio", "anyres").putNull("image_crop_resolution");
        ArrayNode pins = c.putArray("image_grid_pinpoints");
        int[][] pp = {{336, 336}, {336, 672}, {336, 1008}, {336, 1344}, {336, 1680}, {672, 336}, {672, 672}, {1008, 336}, {1344, 336}, {1680, 336}};
        for (int[] x : pp) pins.addArray().add(x[0]).add(x[1]);
        c.putNull("image_split_resolution");
        c.put("initializer_range", 0.02).put("intermediate_size", p.intermediate).put("max_position_embeddings", 2048);
        c.put("mm_hidden_size", p.visionHidden).put("mm_newline_position", "one_token").put("mm_patch_merge_type", "spatial_unpad");
        c.putNull("mm_projector_lr").put("mm_projector_type", "mlp2x_gelu").putNull("mm_resampler_type");
        c.put("mm_spatial_pool_mode", "bilinear");
        c.put("mm_tunable_parts", "mm_vision_tower,mm_mlp_adapter,mm_language_model");
        c.put("mm_use_im_patch_token", false).put("mm_use_im_start_end", false);
        c.put("mm_vision_select_feature", "patch").put("mm_vision_select_layer", -2);
        c.put("mm_vision_tower", "openai/clip-vit-large-patch14-336").putNull("mm_vision_tower_lr");
        c.put("model_type", "instellavl").put("num_attention_heads", p.heads).put("num_hidden_layers", p.layers);
        c.put("num_key_value_heads", p.heads).put("online_training", true).put("pad_token_id", 1);
        c.putNull("rope_scaling").put("rope_theta", 10000.0).put("tie_word_embeddings", true);
        c.put("tokenizer_model_max_length", 32768).put("tokenizer_padding_side", "right");
        c.put("torch_dtype", torchDtype(dtype)).put("use_cache", true).put("use_mm_proj", true).putNull("vision_tower_pretrained");
        c.put("vocab_size", VOCAB);
        c.put("_instella_random_preset", p.name);
        return c;
    }

    private static ObjectNode visionConfig(ObjectMapper json, Preset p, DType dtype) {
        ObjectNode c = json.createObjectNode();
        c.putArray("architectures").add("CLIPVisionModel");
        c.put("attention_dropout", 0.0).put("hidden_act", "quick_gelu").put("hidden_size", p.visionHidden)
                .put("image_size", IMAGE).put("initializer_factor", 1.0).put("initializer_range", 0.02)
                .put("intermediate_size", p.visionIntermediate).put("layer_norm_eps", 1e-5)
                .put("model_type", "clip_vision_model").put("num_attention_heads", p.visionHeads).put("num_channels", 3)
                .put("num_hidden_layers", p.visionLayers).put("patch_size", PATCH).put("projection_dim", 768)
                .put("torch_dtype", torchDtype(dtype));
        return c;
    }

    private static ObjectNode preprocessor(ObjectMapper json) {
        ObjectNode c = json.createObjectNode();
        c.put("crop_size", IMAGE).put("do_center_crop", true).put("do_normalize", true).put("do_resize", true)
                .put("feature_extractor_type", "CLIPFeatureExtractor");
        c.putArray("image_mean").add(0.48145466).add(0.4578275).add(0.40821073);
        c.putArray("image_std").add(0.26862954).add(0.26130258).add(0.27577711);
        c.put("resample", 3).put("size", IMAGE);
        return c;
    }

    private static String torchDtype(DType d) {
        return switch (d) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        };
    }
}
