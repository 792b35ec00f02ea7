package io.instella.model.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;

/** The CLIP vision tower's shape (HF {@code CLIPVisionConfig}). */
public record VisionConfig(
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int imageSize,
        int patchSize,
        int numChannels,
        float layerNormEps,
        String hiddenAct,
        String source) {

    public int patchesPerSide() { return imageSize / patchSize; }

    public int numPatches() { return patchesPerSide() * patchesPerSide(); }

    public int headDim() { return hiddenSize / numHeads; }

    /** openai/clip-vit-large-patch14-336, for checkpoints that only name the tower. */
    public static VisionConfig clipVitLarge336() {
        return new VisionConfig(1024, 4096, 24, 16, 336, 14, 3, 1e-5f, "quick_gelu", "built-in table (openai/clip-vit-large-patch14-336)");
    }

    /** openai/clip-vit-large-patch14 (224 px). */
    public static VisionConfig clipVitLarge224() {
        return new VisionConfig(1024, 4096, 24, 16, 224, 14, 3, 1e-5f, "quick_gelu", "built-in table (openai/clip-vit-large-patch14)");
    }

    /** Generous bounds for a CLIP-style tower (CLIP ViT-L/14-336: hidden 1024, 24 layers, 336 px). */
    public static final int MAX_HIDDEN_SIZE = 1 << 16, MAX_INTERMEDIATE_SIZE = 1 << 18, MAX_LAYERS = 1024, MAX_HEADS = 1024,
            MAX_IMAGE_SIZE = 4096;

    static VisionConfig parse(Path file, JsonNode n, String source) {
        return parse(file, "", n, source);
    }

    /** @param where how the object is named in messages ("vision_config." when nested in config.json) */
    static VisionConfig parse(Path file, String where, JsonNode n, String source) {
        // A full CLIPConfig nests the tower's settings under vision_config.
        if (n.has("vision_config") && n.get("vision_config").isObject()) {
            n = n.get("vision_config");
            where = where + "vision_config.";
        }
        VisionConfig c = new VisionConfig(
                Json.requireInt(file, where, n, "hidden_size", 1, MAX_HIDDEN_SIZE),
                Json.requireInt(file, where, n, "intermediate_size", 1, MAX_INTERMEDIATE_SIZE),
                Json.requireInt(file, where, n, "num_hidden_layers", 1, MAX_LAYERS),
                Json.requireInt(file, where, n, "num_attention_heads", 1, MAX_HEADS),
                Json.optInt(file, where, n, "image_size", 224, 1, MAX_IMAGE_SIZE),
                Json.optInt(file, where, n, "patch_size", 32, 1, MAX_IMAGE_SIZE),
                Json.optInt(file, where, n, "num_channels", 3, 3, 3),
                (float) Json.optDouble(file, where, n, "layer_norm_eps", 1e-5, 0, true, 1),
                Json.optString(file, where, n, "hidden_act", "quick_gelu"),
                source);
        if (c.hiddenSize % c.numHeads != 0) {
            throw new ConfigException(file + ": vision hidden_size " + c.hiddenSize + " is not divisible by num_attention_heads " + c.numHeads);
        }
        if (c.imageSize % c.patchSize != 0) {
            throw new ConfigException(file + ": vision image_size " + c.imageSize + " is not a multiple of patch_size " + c.patchSize);
        }
        if (!c.hiddenAct.equals("quick_gelu") && !c.hiddenAct.equals("gelu") && !c.hiddenAct.equals("gelu_pytorch_tanh")) {
            throw new ConfigException(file + ": vision hidden_act '" + c.hiddenAct + "' is not supported (quick_gelu, gelu, gelu_pytorch_tanh)");
        }
        return c;
    }
}
