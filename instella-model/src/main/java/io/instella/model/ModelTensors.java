package io.instella.model;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.model.config.InstellaConfig;
import io.instella.model.config.TextConfig;
import io.instella.model.config.VisionConfig;
import io.instella.model.lm.OlmoModel;
import io.instella.model.projector.MlpProjector;
import io.instella.model.vision.ClipVisionTower;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a config expects of its checkpoint, checked against the checkpoint's header before any weight is read or
 * anything allocated: the tensor names (every missing and every unexpected one, and the layer counts when they
 * differ) and every tensor's shape and type.
 */
final class ModelTensors {
    private ModelTensors() {}

    /** Names the checkpoint must hold for this config. */
    static List<String> required(InstellaConfig config) {
        List<String> names = new ArrayList<>(OlmoModel.tensorNames(config.text()));
        if (config.hasVision()) {
            var mm = config.multimodal();
            names.addAll(ClipVisionTower.tensorNames(mm.vision()));
            names.addAll(MlpProjector.tensorNames(mm.projectorType()));
            if (mm.patchMergeType().contains("unpad")) names.add("model.image_newline");
        }
        return names;
    }

    /** Name prefixes the checkpoint may hold without them being used. */
    static List<String> ignored(InstellaConfig config) {
        List<String> ignored = new ArrayList<>();
        if (config.hasVision()) {
            if (!config.multimodal().patchMergeType().contains("unpad")) ignored.add("model.image_newline");
            // CLIP position_ids buffers are sometimes saved; the untied lm_head duplicate of a tied model too.
            ignored.add(ClipVisionTower.PREFIX + "embeddings.position_ids");
        }
        if (config.text().tieWordEmbeddings()) ignored.add(OlmoModel.HEAD);
        return ignored;
    }

    /** The shape of every required tensor, as the model parts read them. */
    static Map<String, long[]> expectedShapes(InstellaConfig config) {
        Map<String, long[]> s = new LinkedHashMap<>();
        TextConfig t = config.text();
        long h = t.hiddenSize(), kv = t.kvDim(), inter = t.intermediateSize(), vocab = t.vocabSize();
        String p = OlmoModel.PREFIX;
        s.put(p + "embed_tokens.weight", new long[]{vocab, h});
        if (!t.tieWordEmbeddings()) s.put(OlmoModel.HEAD, new long[]{vocab, h});
        for (int i = 0; i < t.numLayers(); i++) {
            String l = p + "layers." + i + ".";
            s.put(l + "self_attn.q_proj.weight", new long[]{h, h});
            s.put(l + "self_attn.k_proj.weight", new long[]{kv, h});
            s.put(l + "self_attn.v_proj.weight", new long[]{kv, h});
            s.put(l + "self_attn.o_proj.weight", new long[]{h, h});
            s.put(l + "mlp.gate_proj.weight", new long[]{inter, h});
            s.put(l + "mlp.up_proj.weight", new long[]{inter, h});
            s.put(l + "mlp.down_proj.weight", new long[]{h, inter});
            if (t.attentionBias()) {
                s.put(l + "self_attn.q_proj.bias", new long[]{h});
                s.put(l + "self_attn.k_proj.bias", new long[]{kv});
                s.put(l + "self_attn.v_proj.bias", new long[]{kv});
                s.put(l + "self_attn.o_proj.bias", new long[]{h});
            }
        }
        if (config.hasVision()) {
            var mm = config.multimodal();
            VisionConfig v = mm.vision();
            long d = v.hiddenSize(), vi = v.intermediateSize(), patch = v.patchSize();
            String vp = ClipVisionTower.PREFIX;
            s.put(vp + "embeddings.class_embedding", new long[]{d});
            s.put(vp + "embeddings.patch_embedding.weight", new long[]{d, v.numChannels(), patch, patch});
            s.put(vp + "embeddings.position_embedding.weight", new long[]{(long) v.numPatches() + 1, d});
            for (String norm : new String[]{"pre_layrnorm", "post_layernorm"}) {
                s.put(vp + norm + ".weight", new long[]{d});
                s.put(vp + norm + ".bias", new long[]{d});
            }
            for (int i = 0; i < v.numLayers(); i++) {
                String l = vp + "encoder.layers." + i + ".";
                for (String norm : new String[]{"layer_norm1", "layer_norm2"}) {
                    s.put(l + norm + ".weight", new long[]{d});
                    s.put(l + norm + ".bias", new long[]{d});
                }
                for (String proj : new String[]{"q_proj", "k_proj", "v_proj", "out_proj"}) {
                    s.put(l + "self_attn." + proj + ".weight", new long[]{d, d});
                    s.put(l + "self_attn." + proj + ".bias", new long[]{d});
                }
                s.put(l + "mlp.fc1.weight", new long[]{vi, d});
                s.put(l + "mlp.fc1.bias", new long[]{vi});
                s.put(l + "mlp.fc2.weight", new long[]{d, vi});
                s.put(l + "mlp.fc2.bias", new long[]{d});
            }
            List<String> projector = MlpProjector.tensorNames(mm.projectorType());
            for (int i = 0; i < projector.size() / 2; i++) {
                s.put(projector.get(2 * i), new long[]{h, i == 0 ? mm.mmHiddenSize() : h});
                s.put(projector.get(2 * i + 1), new long[]{h});
            }
            if (mm.patchMergeType().contains("unpad")) s.put("model.image_newline", new long[]{h});
        }
        return s;
    }

    /**
     * Refuses a checkpoint that does not fit the config, from its header alone: missing or unexpected tensors
     * (with the layer counts when they differ), then the first tensor of the wrong shape or type.
     */
    static void check(InstellaConfig config, Checkpoint ckpt) {
        try {
            ckpt.checkNames(required(config), ignored(config));
        } catch (SafeTensorsException e) {
            StringBuilder counts = new StringBuilder();
            int textLayers = layersPresent(ckpt, OlmoModel.PREFIX + "layers.");
            if (textLayers != config.text().numLayers()) {
                counts.append("\n  ").append(config.file()).append(" says num_hidden_layers = ").append(config.text().numLayers())
                        .append("; the checkpoint has ").append(textLayers).append(" decoder layers");
            }
            if (config.hasVision()) {
                int visionLayers = layersPresent(ckpt, ClipVisionTower.PREFIX + "encoder.layers.");
                int configured = config.multimodal().vision().numLayers();
                if (visionLayers != configured) {
                    counts.append("\n  ").append(config.multimodal().vision().source()).append(" says num_hidden_layers = ")
                            .append(configured).append(" for the vision tower; the checkpoint has ").append(visionLayers).append(" encoder layers");
                }
            }
            if (counts.isEmpty()) throw e;
            throw new SafeTensorsException(e.getMessage() + counts, e);
        }
        for (Map.Entry<String, long[]> e : expectedShapes(config).entrySet()) {
            ckpt.get(e.getKey(), e.getValue()); // a view of the mapping: checks shape and type, allocates nothing
        }
        // A tied model may carry an ahead-of-time quantized head, which is then used: it must fit too.
        if (config.text().tieWordEmbeddings() && ckpt.contains(OlmoModel.HEAD) && ckpt.get(OlmoModel.HEAD).dtype().isQuantized()) {
            ckpt.get(OlmoModel.HEAD, config.text().vocabSize(), config.text().hiddenSize());
        }
    }

    /** Layers under prefix: one more than the largest index N of a tensor named {@code prefix + N + "."}. */
    static int layersPresent(Checkpoint ckpt, String prefix) {
        int count = 0;
        for (String name : ckpt.names()) {
            if (!name.startsWith(prefix)) continue;
            int dot = name.indexOf('.', prefix.length());
            String index = dot < 0 ? "" : name.substring(prefix.length(), dot);
            if (index.isEmpty() || index.length() > 9 || !index.chars().allMatch(c -> c >= '0' && c <= '9')) continue;
            count = Math.max(count, Integer.parseInt(index) + 1);
        }
        return count;
    }
}
