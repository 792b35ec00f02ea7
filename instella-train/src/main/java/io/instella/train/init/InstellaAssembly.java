package io.instella.train.init;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.ConfigException;
import io.instella.model.config.InstellaConfig;
import io.instella.model.config.TextConfig;
import io.instella.model.config.VisionConfig;
import io.instella.model.image.ImageProcessingConfig;
import io.instella.model.lm.OlmoModel;
import io.instella.model.projector.MlpProjector;
import io.instella.model.vision.ClipVisionTower;
import io.instella.train.model.TunableParts;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Builds an Instella-VL checkpoint from an OLMo language model and a CLIP vision tower, both in Hugging Face layout,
 * as upstream's {@code train.py} builds its model before stage 1 or 2 ({@code --model_name_or_path} AMD OLMo,
 * {@code --vision_tower} CLIP, {@code initialize_vision_modules}): the OLMo weights under their own names, the CLIP
 * vision weights under {@code model.vision_tower.vision_tower.vision_model.*}, and a projector and
 * {@code image_newline} that are either fresh ({@link FreshWeights}) or loaded from a stage-1 checkpoint.
 *
 * <p>The result is a complete checkpoint directory ({@code config.json} with the {@code mm_*} fields of the released
 * Instella config, {@code model.safetensors}, {@code vision_tower/config.json} + {@code preprocessor_config.json},
 * tokenizer files, {@code generation_config.json}) that {@link io.instella.model.InstellaVL#load} and the Hugging Face
 * InstellaVL code read. Weights are streamed from the memory-mapped inputs one tensor at a time; the directory is
 * written under a temporary name beside the target and renamed into place only when complete.
 */
public final class InstellaAssembly {
    /** Upstream's stage-1 tunable parts, and those of stages 2 and 3. */
    public static final String STAGE1_PARTS = "mm_mlp_adapter";
    public static final String ALL_PARTS = "mm_vision_tower,mm_mlp_adapter,mm_language_model";
    public static final String PROJECTOR_TYPE = "mlp2x_gelu";
    public static final int SELECT_LAYER = -2;
    public static final String SELECT_FEATURE = "patch";
    /** The tensor holding the newline row. */
    public static final String IMAGE_NEWLINE = "model.image_newline";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String CLIP_PREFIX = "vision_model.";
    /** Files of the language model's directory copied as they are (tokenizer.json is required, the rest optional). */
    private static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt", "added_tokens.json",
            "chat_template.json", "chat_template.jinja");
    private static final Pattern REPO_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
    private static final Pattern HF_CACHE_SNAPSHOT = Pattern.compile(".*/models--([^/]+)--([^/]+)/snapshots/[^/]+/?$");

    private InstellaAssembly() {}

    /**
     * What to build.
     *
     * @param seed             seeds the fresh projector and {@code image_newline} (two independent streams split from
     *                         it, so the newline is the same whether the projector is fresh or loaded)
     * @param patchMergeType   {@code flat} (stage 1) or {@code spatial_unpad} (stages 2, 3; creates {@code image_newline})
     * @param imageAspectRatio {@code square} (stage 1), {@code anyres} (stages 2, 3), {@code pad}, {@code anyres_max_N}
     * @param projectorFrom    a stage-1 projector to load instead of a fresh one (upstream's
     *                         {@code --pretrain_mm_mlp_adapter}): a .safetensors file or a checkpoint directory; every
     *                         tensor whose name contains {@code mm_projector.} is taken by what follows that; null = fresh
     * @param imageNewlineFrom a .safetensors file or checkpoint directory holding a {@code *image_newline} tensor to use
     *                         instead of a fresh one (upstream always creates it fresh; this is for rebuilding a known
     *                         checkpoint); null = fresh
     * @param dtype            null: every tensor copied as stored, the projector and newline in the language model's
     *                         embedding type; BF16, F16 or F32: every tensor written in that type (as upstream's
     *                         {@code --bf16} loads everything in bfloat16)
     * @param tunableParts     written as {@code mm_tunable_parts}
     * @param modelMaxLength   written as {@code tokenizer_model_max_length} (the context the model is used at)
     * @param visionTowerName  written as {@code mm_vision_tower}; null = the CLIP directory's Hugging Face repo id when it
     *                         can be told (a hub cache snapshot, or its config's {@code _name_or_path}), else its path
     * @param overwrite        replace a non-empty output directory
     */
    public record Options(long seed, String patchMergeType, String imageAspectRatio, Path projectorFrom, Path imageNewlineFrom,
                          DType dtype, String tunableParts, int modelMaxLength, String visionTowerName, boolean overwrite) {
        public Options {
            if (patchMergeType == null || !List.of("flat", "spatial", "spatial_unpad").contains(patchMergeType)) {
                throw new AssemblyException("mm_patch_merge_type '" + patchMergeType + "' is not supported (flat, spatial, spatial_unpad)");
            }
            if (imageAspectRatio == null || !(imageAspectRatio.equals("square") || imageAspectRatio.equals("pad")
                    || imageAspectRatio.equals("anyres") || imageAspectRatio.matches("anyres_max_[1-9][0-9]{0,3}"))) {
                throw new AssemblyException("image_aspect_ratio '" + imageAspectRatio + "' is not supported (square, pad, anyres, anyres_max_N)");
            }
            if (dtype != null && dtype != DType.BF16 && dtype != DType.F16 && dtype != DType.F32) {
                throw new AssemblyException("cannot write the checkpoint as " + dtype + " (bf16, f16 or f32)");
            }
            try {
                tunableParts = TunableParts.parse(tunableParts == null ? "" : tunableParts).toString();
            } catch (IllegalArgumentException e) {
                throw new AssemblyException(e.getMessage());
            }
            if (modelMaxLength < 1) throw new AssemblyException("the model max length must be positive, got " + modelMaxLength);
            if (visionTowerName != null && visionTowerName.isBlank()) visionTowerName = null;
        }

        /** Stage 1 as upstream runs it: square images, flat merge, a fresh projector, projector trained, 8192 tokens. */
        public static Options stage1(long seed) {
            return new Options(seed, "flat", "square", null, null, null, STAGE1_PARTS, 8192, null, false);
        }

        /**
         * Stage 2 as upstream runs it: anyres + spatial_unpad, the stage-1 projector (null = fresh), a fresh
         * image_newline, every part trained, 32768 tokens.
         */
        public static Options stage2(long seed, Path projectorFrom) {
            return new Options(seed, "spatial_unpad", "anyres", projectorFrom, null, null, ALL_PARTS, 32768, null, false);
        }

        public Options withSeed(long s) {
            return new Options(s, patchMergeType, imageAspectRatio, projectorFrom, imageNewlineFrom, dtype, tunableParts,
                    modelMaxLength, visionTowerName, overwrite);
        }

        public Options withImageMode(String aspect, String merge) {
            return new Options(seed, merge, aspect, projectorFrom, imageNewlineFrom, dtype, tunableParts,
                    modelMaxLength, visionTowerName, overwrite);
        }

        public Options withProjectorFrom(Path p) {
            return new Options(seed, patchMergeType, imageAspectRatio, p, imageNewlineFrom, dtype, tunableParts,
                    modelMaxLength, visionTowerName, overwrite);
        }

        public Options withImageNewlineFrom(Path p) {
            return new Options(seed, patchMergeType, imageAspectRatio, projectorFrom, p, dtype, tunableParts,
                    modelMaxLength, visionTowerName, overwrite);
        }

        public Options withDtype(DType d) {
            return new Options(seed, patchMergeType, imageAspectRatio, projectorFrom, imageNewlineFrom, d, tunableParts,
                    modelMaxLength, visionTowerName, overwrite);
        }

        public Options withTunableParts(String p) {
            return new Options(seed, patchMergeType, imageAspectRatio, projectorFrom, imageNewlineFrom, dtype, p,
                    modelMaxLength, visionTowerName, overwrite);
        }

        public Options withModelMaxLength(int n) {
            return new Options(seed, patchMergeType, imageAspectRatio, projectorFrom, imageNewlineFrom, dtype, tunableParts,
                    n, visionTowerName, overwrite);
        }

        public Options withVisionTowerName(String n) {
            return new Options(seed, patchMergeType, imageAspectRatio, projectorFrom, imageNewlineFrom, dtype, tunableParts,
                    modelMaxLength, n, overwrite);
        }

        public Options withOverwrite(boolean o) {
            return new Options(seed, patchMergeType, imageAspectRatio, projectorFrom, imageNewlineFrom, dtype, tunableParts,
                    modelMaxLength, visionTowerName, o);
        }

        boolean hasNewline() { return patchMergeType.contains("unpad"); }
    }

    /**
     * What was written.
     *
     * @param newTensorType     the type of the projector and image_newline as written
     * @param freshProjector    the projector was initialised here (false: loaded from {@link Options#projectorFrom})
     * @param freshImageNewline image_newline was initialised here (false: loaded, or none because the merge is not unpad)
     * @param notes             things the caller may want to tell the user (e.g. a missing preprocessor config)
     */
    public record Result(Path directory, String visionTowerName, DType newTensorType, boolean freshProjector,
                         boolean freshImageNewline, int tensorCount, long weightBytes, List<String> notes) {}

    /** A tensor of the output: its name, type and shape, and where its bytes come from. */
    private record Planned(String name, DType dtype, long[] shape, Tensor source, float[] values) {}

    /**
     * Writes the Instella checkpoint for {@code olmoDir} (HF {@code OlmoForCausalLM}) and {@code clipDir} (HF
     * {@code CLIPVisionModel} or {@code CLIPModel}) into {@code outDir}.
     *
     * @throws AssemblyException with a message for the user when an input is not what it must be or cannot be written
     */
    public static Result assemble(Path olmoDir, Path clipDir, Options options, Path outDir) {
        if (options == null) throw new IllegalArgumentException("options");
        checkOutput(outDir, options, olmoDir, clipDir);
        LanguageModel lm = readLanguageModel(olmoDir);
        Vision vision = readVision(clipDir);
        List<AutoCloseable> open = new ArrayList<>();
        try {
            Checkpoint lmWeights = open(olmoDir, "language model", open);
            Checkpoint clipWeights = open(clipDir, "vision tower", open);
            List<Planned> tensors = new ArrayList<>();
            planLanguageModel(lm, lmWeights, options.dtype(), tensors);
            planVision(vision, clipWeights, options.dtype(), tensors);

            int h = lm.text.hiddenSize(), mmHidden = vision.config.hiddenSize();
            DType newType = options.dtype() != null ? options.dtype() : newTensorType(lmWeights);
            // Independent streams: the newline does not depend on whether the projector was drawn or loaded.
            SplittableRandom root = new SplittableRandom(options.seed());
            SplittableRandom projectorRng = root.split(), newlineRng = root.split();
            boolean freshProjector = options.projectorFrom() == null;
            if (freshProjector) {
                freshProjector(projectorRng, h, mmHidden, newType, tensors);
            } else {
                loadProjector(options.projectorFrom(), h, mmHidden, newType, tensors, open);
            }
            boolean freshNewline = false;
            if (options.hasNewline()) {
                if (options.imageNewlineFrom() == null) {
                    tensors.add(new Planned(IMAGE_NEWLINE, newType, new long[]{h}, null, FreshWeights.imageNewline(newlineRng, h)));
                    freshNewline = true;
                } else {
                    tensors.add(loadNewline(options.imageNewlineFrom(), h, newType, open));
                }
            } else if (options.imageNewlineFrom() != null) {
                throw new AssemblyException("an image_newline was given (" + options.imageNewlineFrom() + ") but mm_patch_merge_type '"
                        + options.patchMergeType() + "' has none (only spatial_unpad uses it)");
            }
            tensors.sort(Comparator.comparing(Planned::name));

            String towerName = options.visionTowerName() != null ? options.visionTowerName() : visionTowerName(clipDir, vision.file);
            List<String> notes = new ArrayList<>();
            Result result = write(outDir, options, lm, vision, towerName, newType, tensors, freshProjector, freshNewline, notes);
            return result;
        } finally {
            for (AutoCloseable c : open.reversed()) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // closing a read-only mapping cannot lose data
                }
            }
        }
    }

    // ---------------------------------------------------------------- the language model

    private record LanguageModel(Path dir, Path file, ObjectNode config, TextConfig text) {}

    private static LanguageModel readLanguageModel(Path dir) {
        Path file = requireConfig(dir, "language model", "an OLMo checkpoint (OlmoForCausalLM)");
        JsonNode n = readJson(file);
        String type = n.path("model_type").asText(null);
        if (type == null) {
            throw new AssemblyException(file + ": has no model_type; the language model must be a Hugging Face OLMo checkpoint (model_type \"olmo\")");
        }
        switch (type) {
            case "olmo" -> { }
            case "instellavl", "llava_olmo" -> throw new AssemblyException(file + ": is already an Instella-VL checkpoint (model_type \""
                    + type + "\"); train from it with --model DIR instead of --language-model/--vision-tower");
            case "hf_olmo" -> throw new AssemblyException(file + ": is in the OLMo library's own format (model_type \"hf_olmo\"); "
                    + "convert it to the transformers layout first (transformers' convert_olmo_weights_to_hf.py), or use the "
                    + "transformers-format repository of the model");
            default -> throw new AssemblyException(file + ": model_type \"" + type + "\" is not an OLMo language model "
                    + "(expected \"olmo\", the Hugging Face OlmoForCausalLM layout of AMD OLMo)");
        }
        TextConfig text;
        try {
            text = InstellaConfig.load(dir).text();
        } catch (ConfigException e) {
            throw new AssemblyException("language model: " + e.getMessage(), e);
        }
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            throw new AssemblyException(dir + ": no tokenizer.json (the language model's directory must hold its tokenizer files)");
        }
        return new LanguageModel(dir, file, (ObjectNode) n, text);
    }

    private static void planLanguageModel(LanguageModel lm, Checkpoint ckpt, DType dtype, List<Planned> out) {
        TextConfig t = lm.text;
        Map<String, long[]> expected = languageModelShapes(t);
        List<String> unexpected = new ArrayList<>();
        for (String name : ckpt.names()) {
            // Non-persistent buffers some exporters save anyway, and the duplicate head of a tied model.
            if (name.endsWith("rotary_emb.inv_freq") || (t.tieWordEmbeddings() && name.equals(OlmoModel.HEAD))) continue;
            if (!expected.containsKey(name)) unexpected.add(name);
        }
        checkNames(lm.dir, "language model", expected.keySet(), ckpt, unexpected, lm.file + " (num_hidden_layers "
                + t.numLayers() + ", tie_word_embeddings " + t.tieWordEmbeddings() + ")");
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            out.add(copy(ckpt, e.getKey(), e.getKey(), e.getValue(), dtype, lm.dir, lm.file));
        }
    }

    static Map<String, long[]> languageModelShapes(TextConfig t) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long h = t.hiddenSize(), kv = t.kvDim(), inter = t.intermediateSize(), vocab = t.vocabSize();
        s.put(OlmoModel.PREFIX + "embed_tokens.weight", new long[]{vocab, h});
        if (!t.tieWordEmbeddings()) s.put(OlmoModel.HEAD, new long[]{vocab, h});
        for (int i = 0; i < t.numLayers(); i++) {
            String l = OlmoModel.PREFIX + "layers." + i + ".";
            long[][] attn = {{h, h}, {kv, h}, {kv, h}, {h, h}};
            String[] names = {"q_proj", "k_proj", "v_proj", "o_proj"};
            for (int k = 0; k < 4; k++) {
                s.put(l + "self_attn." + names[k] + ".weight", attn[k]);
                if (t.attentionBias()) s.put(l + "self_attn." + names[k] + ".bias", new long[]{attn[k][0]});
            }
            s.put(l + "mlp.gate_proj.weight", new long[]{inter, h});
            s.put(l + "mlp.up_proj.weight", new long[]{inter, h});
            s.put(l + "mlp.down_proj.weight", new long[]{h, inter});
        }
        if (!Set.copyOf(OlmoModel.tensorNames(t)).equals(s.keySet())) {
            throw new IllegalStateException("the OLMo tensor list here and in OlmoModel disagree");
        }
        return s;
    }

    /** The language model's embedding type, which fresh tensors take (F32 when the embedding is not a float type). */
    private static DType newTensorType(Checkpoint lm) {
        DType d = lm.get(OlmoModel.PREFIX + "embed_tokens.weight").dtype();
        return d == DType.BF16 || d == DType.F16 || d == DType.F32 ? d : DType.F32;
    }

    // ---------------------------------------------------------------- the vision tower

    /** The CLIP tower: its config as this checkpoint's vision_tower/config.json will hold it, and its shape. */
    private record Vision(Path dir, Path file, ObjectNode towerConfig, VisionConfig config) {}

    /** HF CLIPVisionConfig's defaults, written out so the copied config does not depend on a library's defaults. */
    private static final Map<String, Object> CLIP_VISION_DEFAULTS = defaults();

    private static Map<String, Object> defaults() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("hidden_size", 768);
        d.put("intermediate_size", 3072);
        d.put("projection_dim", 512);
        d.put("num_hidden_layers", 12);
        d.put("num_attention_heads", 12);
        d.put("num_channels", 3);
        d.put("image_size", 224);
        d.put("patch_size", 32);
        d.put("hidden_act", "quick_gelu");
        d.put("layer_norm_eps", 1e-5);
        d.put("attention_dropout", 0.0);
        d.put("initializer_range", 0.02);
        d.put("initializer_factor", 1.0);
        return d;
    }

    private static Vision readVision(Path dir) {
        Path file = requireConfig(dir, "vision tower", "a CLIP checkpoint (CLIPVisionModel or CLIPModel)");
        JsonNode n = readJson(file);
        String type = n.path("model_type").asText("");
        JsonNode section;
        boolean full;
        if (type.equals("clip")) {
            section = n.get("vision_config");
            if (section == null || !section.isObject()) {
                throw new AssemblyException(file + ": a CLIPModel config (model_type \"clip\") without a vision_config object");
            }
            full = true;
        } else if (type.equals("clip_vision_model")) {
            section = n;
            full = false;
        } else {
            throw new AssemblyException(file + ": model_type \"" + type + "\" is not a CLIP config (expected \"clip_vision_model\" "
                    + "for a CLIPVisionModel or \"clip\" for a CLIPModel, e.g. openai/clip-vit-large-patch14-336)");
        }
        ObjectNode tower = JSON.createObjectNode();
        tower.putArray("architectures").add("CLIPVisionModel");
        section.fields().forEachRemaining(e -> {
            if (!e.getKey().equals("architectures") && !e.getKey().equals("_name_or_path")) tower.set(e.getKey(), e.getValue());
        });
        CLIP_VISION_DEFAULTS.forEach((k, v) -> {
            if (!tower.hasNonNull(k)) tower.set(k, JSON.valueToTree(v));
        });
        tower.put("model_type", "clip_vision_model");
        if (!tower.hasNonNull("torch_dtype") && n.hasNonNull("torch_dtype")) tower.set("torch_dtype", n.get("torch_dtype"));
        if (!tower.hasNonNull("transformers_version") && n.hasNonNull("transformers_version")) tower.set("transformers_version", n.get("transformers_version"));
        String where = full ? "vision_config." : "";
        VisionConfig c = new VisionConfig(
                intField(file, where, tower, "hidden_size"), intField(file, where, tower, "intermediate_size"),
                intField(file, where, tower, "num_hidden_layers"), intField(file, where, tower, "num_attention_heads"),
                intField(file, where, tower, "image_size"), intField(file, where, tower, "patch_size"),
                intField(file, where, tower, "num_channels"), (float) tower.path("layer_norm_eps").asDouble(1e-5),
                tower.path("hidden_act").asText(""), file.toString());
        if (c.hiddenSize() % c.numHeads() != 0) {
            throw new AssemblyException(file + ": " + where + "hidden_size " + c.hiddenSize() + " is not divisible by num_attention_heads " + c.numHeads());
        }
        if (c.imageSize() % c.patchSize() != 0) {
            throw new AssemblyException(file + ": " + where + "image_size " + c.imageSize() + " is not a multiple of patch_size " + c.patchSize());
        }
        if (!List.of("quick_gelu", "gelu", "gelu_pytorch_tanh").contains(c.hiddenAct())) {
            throw new AssemblyException(file + ": " + where + "hidden_act '" + c.hiddenAct() + "' is not supported (quick_gelu, gelu, gelu_pytorch_tanh)");
        }
        if (c.numLayers() < 2) {
            throw new AssemblyException(file + ": the tower has " + c.numLayers() + " layer(s); Instella takes the second-to-last "
                    + "hidden state (mm_vision_select_layer -2), which needs at least 2");
        }
        return new Vision(dir, file, tower, c);
    }

    private static void planVision(Vision v, Checkpoint ckpt, DType dtype, List<Planned> out) {
        Map<String, long[]> expected = visionShapes(v.config);
        List<String> unexpected = new ArrayList<>();
        Set<String> present = new LinkedHashSet<>();
        for (String name : ckpt.names()) {
            // A full CLIPModel's text half and heads are not part of the tower; position_ids is a buffer.
            if (name.startsWith("text_model.") || name.equals("logit_scale") || name.startsWith("text_projection.")
                    || name.startsWith("visual_projection.") || name.equals(CLIP_PREFIX + "embeddings.position_ids")) continue;
            String target = name.startsWith(CLIP_PREFIX) ? ClipVisionTower.PREFIX + name.substring(CLIP_PREFIX.length()) : null;
            if (target == null || !expected.containsKey(target)) unexpected.add(name);
            else present.add(target);
        }
        if (present.isEmpty()) {
            throw new AssemblyException(v.dir + ": no vision_model.* tensors; the vision tower must be a Hugging Face CLIP checkpoint "
                    + "(CLIPVisionModel or CLIPModel)" + (unexpected.isEmpty() ? "" : "; it holds e.g. " + summarize(unexpected)));
        }
        List<String> missing = expected.keySet().stream().filter(n -> !present.contains(n))
                .map(n -> CLIP_PREFIX + n.substring(ClipVisionTower.PREFIX.length())).toList();
        reportNames(v.dir, "vision tower", missing, unexpected, v.file + " (num_hidden_layers " + v.config.numLayers() + ")");
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            String source = CLIP_PREFIX + e.getKey().substring(ClipVisionTower.PREFIX.length());
            out.add(copy(ckpt, source, e.getKey(), e.getValue(), dtype, v.dir, v.file));
        }
    }

    static Map<String, long[]> visionShapes(VisionConfig v) {
        Map<String, long[]> s = new LinkedHashMap<>();
        long d = v.hiddenSize(), vi = v.intermediateSize(), patch = v.patchSize();
        String p = ClipVisionTower.PREFIX;
        s.put(p + "embeddings.class_embedding", new long[]{d});
        s.put(p + "embeddings.patch_embedding.weight", new long[]{d, v.numChannels(), patch, patch});
        s.put(p + "embeddings.position_embedding.weight", new long[]{(long) v.numPatches() + 1, d});
        for (String norm : new String[]{"pre_layrnorm", "post_layernorm"}) {
            s.put(p + norm + ".weight", new long[]{d});
            s.put(p + norm + ".bias", new long[]{d});
        }
        for (int i = 0; i < v.numLayers(); i++) {
            String l = p + "encoder.layers." + i + ".";
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
        if (!Set.copyOf(ClipVisionTower.tensorNames(v)).equals(s.keySet())) {
            throw new IllegalStateException("the CLIP tensor list here and in ClipVisionTower disagree");
        }
        return s;
    }

    // ---------------------------------------------------------------- projector and image_newline

    private static List<String> projectorNames() { return MlpProjector.tensorNames(PROJECTOR_TYPE); }

    private static long[] projectorShape(String name, int h, int mmHidden) {
        boolean first = name.startsWith(MlpProjector.PREFIX + "0.");
        return name.endsWith(".weight") ? new long[]{h, first ? mmHidden : h} : new long[]{h};
    }

    private static void freshProjector(SplittableRandom rng, int h, int mmHidden, DType type, List<Planned> out) {
        // nn.Sequential(Linear(mm_hidden, H), GELU, Linear(H, H)) as built, each Linear's weight then bias.
        for (String name : projectorNames()) {
            long[] shape = projectorShape(name, h, mmHidden);
            int fanIn = name.startsWith(MlpProjector.PREFIX + "0.") ? mmHidden : h;
            float[] values = name.endsWith(".weight") ? FreshWeights.linearWeight(rng, h, fanIn) : FreshWeights.linearBias(rng, h, fanIn);
            out.add(new Planned(name, type, shape, null, values));
        }
    }

    /** Upstream's get_w(weights, "mm_projector"): every key containing "mm_projector." maps to what follows it. */
    private static void loadProjector(Path from, int h, int mmHidden, DType type, List<Planned> out, List<AutoCloseable> open) {
        Checkpoint ckpt = openWeights(from, "projector", open);
        Map<String, String> byKey = new LinkedHashMap<>();
        for (String name : ckpt.names()) {
            int at = name.indexOf("mm_projector.");
            if (at < 0) continue;
            String key = name.substring(at + "mm_projector.".length());
            String previous = byKey.put(key, name);
            if (previous != null) {
                throw new AssemblyException(from + ": holds two projectors ('" + previous + "' and '" + name + "'); give a file with one");
            }
        }
        if (byKey.isEmpty()) {
            throw new AssemblyException(from + ": holds no projector tensors (no name contains 'mm_projector.'); expected a stage-1 "
                    + "output such as model.mm_projector.0.weight, .0.bias, .2.weight, .2.bias");
        }
        Set<String> wanted = new LinkedHashSet<>();
        for (String n : projectorNames()) wanted.add(n.substring(MlpProjector.PREFIX.length()));
        List<String> missing = wanted.stream().filter(k -> !byKey.containsKey(k)).map(k -> "mm_projector." + k).toList();
        List<String> extra = byKey.keySet().stream().filter(k -> !wanted.contains(k)).map(byKey::get).toList();
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new AssemblyException(from + ": is not an " + PROJECTOR_TYPE + " projector (Linear, GELU, Linear)"
                    + (missing.isEmpty() ? "" : "; missing " + summarize(missing))
                    + (extra.isEmpty() ? "" : "; unexpected " + summarize(extra)));
        }
        for (String target : projectorNames()) {
            String source = byKey.get(target.substring(MlpProjector.PREFIX.length()));
            Tensor t = ckpt.get(source);
            long[] shape = projectorShape(target, h, mmHidden);
            if (!Arrays.equals(t.shape(), shape)) {
                throw new AssemblyException(from + ": projector tensor '" + source + "' is " + Arrays.toString(t.shape())
                        + ", but this vision tower (hidden size " + mmHidden + ") and language model (hidden size " + h
                        + ") need " + Arrays.toString(shape) + "; the projector was trained for another pair of models");
            }
            requireFloat(t, from);
            out.add(new Planned(target, type, shape, t, null));
        }
    }

    private static Planned loadNewline(Path from, int h, DType type, List<AutoCloseable> open) {
        Checkpoint ckpt = openWeights(from, "image_newline", open);
        List<String> names = ckpt.names().stream().filter(n -> n.equals("image_newline") || n.endsWith(".image_newline")).toList();
        if (names.size() != 1) {
            throw new AssemblyException(from + ": " + (names.isEmpty() ? "holds no image_newline tensor" : "holds several image_newline tensors: " + names));
        }
        Tensor t = ckpt.get(names.getFirst());
        if (!Arrays.equals(t.shape(), new long[]{h})) {
            throw new AssemblyException(from + ": '" + names.getFirst() + "' is " + Arrays.toString(t.shape())
                    + ", the language model's hidden size needs [" + h + "]");
        }
        requireFloat(t, from);
        return new Planned(IMAGE_NEWLINE, type, new long[]{h}, t, null);
    }

    // ---------------------------------------------------------------- writing

    private static Result write(Path outDir, Options options, LanguageModel lm, Vision vision, String towerName, DType newType,
                                List<Planned> tensors, boolean freshProjector, boolean freshNewline, List<String> notes) {
        Path out = outDir.toAbsolutePath().normalize();
        Path tmp;
        try {
            Files.createDirectories(out.getParent());
            // Not createTempDirectory: its owner-only permissions would stay on the published checkpoint; this respects the umask.
            tmp = Files.createDirectory(out.getParent().resolve("." + out.getFileName() + ".partial-"
                    + Long.toHexString(System.nanoTime()) + "-" + ProcessHandle.current().pid()));
        } catch (IOException e) {
            throw new AssemblyException("cannot create " + out + ": " + reason(e), e);
        }
        try {
            writeConfigs(tmp, options, lm, vision, towerName, newType, notes);
            try {
                // The same loader the engine uses, on the files just written: a config it would refuse is never published.
                InstellaConfig.load(tmp);
            } catch (ConfigException e) {
                throw new AssemblyException("the assembled config is not one this engine can load: "
                        + e.getMessage().replace(tmp.toString(), out.toString()), e);
            }
            long bytes = 0;
            try (TensorEncoding encoding = new TensorEncoding()) {
                SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
                for (Planned p : tensors) {
                    w.addDeferred(p.name, p.dtype, p.shape, () -> p.values != null ? encoding.encode(p.values, p.dtype) : encoding.encode(p.source, p.dtype));
                    bytes += p.dtype.bytesFor(Tensor.numel(p.shape));
                }
                w.write(tmp.resolve("model.safetensors"));
            }
            matchPermissions(tmp.resolve("model.safetensors"), tmp.resolve("config.json"));
            publish(tmp, out, options.overwrite());
            return new Result(out, towerName, newType, freshProjector, freshNewline, tensors.size(), bytes, List.copyOf(notes));
        } catch (IOException e) {
            throw new AssemblyException("cannot write " + out + ": " + reason(e), e);
        } finally {
            deleteRecursively(tmp);
        }
    }

    private static void writeConfigs(Path dir, Options o, LanguageModel lm, Vision vision, String towerName, DType newType,
                                     List<String> notes) throws IOException {
        ObjectNode c = JSON.createObjectNode();
        // The OLMo fields as the language model has them (InstellaVLConfig subclasses OlmoConfig) ...
        for (Iterator<Map.Entry<String, JsonNode>> it = lm.config.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!List.of("_name_or_path", "architectures", "auto_map", "model_type", "torch_dtype").contains(e.getKey())) {
                c.set(e.getKey(), e.getValue());
            }
        }
        // ... and the fields initialize_vision_modules and train.py write (spec §1.2).
        c.putArray("architectures").add("InstellaVLForCausalLM");
        c.put("model_type", "instellavl");
        c.put("image_aspect_ratio", o.imageAspectRatio());
        c.putNull("image_crop_resolution");
        ArrayNode pins = c.putArray("image_grid_pinpoints");
        for (int[] p : ImageProcessingConfig.INSTELLA_PINPOINTS) pins.addArray().add(p[0]).add(p[1]);
        c.putNull("image_split_resolution");
        c.put("mm_hidden_size", vision.config.hiddenSize());
        c.put("mm_newline_position", "one_token");
        c.put("mm_patch_merge_type", o.patchMergeType());
        c.putNull("mm_projector_lr");
        c.put("mm_projector_type", PROJECTOR_TYPE);
        c.putNull("mm_resampler_type");
        c.put("mm_tunable_parts", o.tunableParts());
        c.put("mm_use_im_patch_token", false);
        c.put("mm_use_im_start_end", false);
        c.put("mm_vision_select_feature", SELECT_FEATURE);
        c.put("mm_vision_select_layer", SELECT_LAYER);
        c.put("mm_vision_tower", towerName);
        c.putNull("mm_vision_tower_lr");
        c.put("online_training", true);
        c.put("tokenizer_model_max_length", o.modelMaxLength());
        c.put("tokenizer_padding_side", paddingSide(lm.dir));
        c.put("torch_dtype", torchDtype(o.dtype() != null ? o.dtype() : newType));
        c.put("use_cache", true);
        c.put("use_mm_proj", true);
        c.putNull("vision_tower_pretrained");
        writeJson(dir.resolve("config.json"), sorted(c));

        Path tower = Files.createDirectories(dir.resolve("vision_tower"));
        ObjectNode towerConfig = vision.towerConfig.deepCopy();
        if (o.dtype() != null) towerConfig.put("torch_dtype", torchDtype(o.dtype()));
        writeJson(tower.resolve("config.json"), sorted(towerConfig));
        Path preprocessor = vision.dir.resolve("preprocessor_config.json");
        if (Files.isRegularFile(preprocessor)) {
            copyContent(preprocessor, tower.resolve("preprocessor_config.json"));
        } else {
            notes.add(vision.dir + " has no preprocessor_config.json: images will be prepared with CLIP's standard settings "
                    + "(shortest edge and crop " + vision.config.imageSize() + ", OpenAI CLIP mean and std)");
        }
        for (String f : TOKENIZER_FILES) {
            Path src = lm.dir.resolve(f);
            if (Files.isRegularFile(src)) copyContent(src, dir.resolve(f));
        }
        if (!Files.isRegularFile(dir.resolve("generation_config.json"))) {
            notes.add(lm.dir + " has no generation_config.json: generation will use the config's eos/pad ids");
        }
    }

    /** Moves the finished directory into place; an existing output is replaced only when allowed (checked before). */
    private static void publish(Path tmp, Path out, boolean overwrite) throws IOException {
        if (!Files.exists(out)) {
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        if (isEmptyDirectory(out)) {
            Files.delete(out);
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        if (!overwrite) throw new FileAlreadyExistsException(out + " (appeared while the checkpoint was being written)");
        Path old = Files.createTempDirectory(out.getParent(), "." + out.getFileName() + ".old-");
        Files.delete(old);
        Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
        try {
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.move(old, out, StandardCopyOption.ATOMIC_MOVE); // put the previous checkpoint back
            throw e;
        }
        deleteRecursively(old);
    }

    // ---------------------------------------------------------------- checks and helpers

    private static void checkOutput(Path outDir, Options o, Path olmoDir, Path clipDir) {
        if (outDir == null) throw new AssemblyException("no output directory given");
        Path out = outDir.toAbsolutePath().normalize();
        if (out.getParent() == null) throw new AssemblyException(out + ": cannot be the output directory (choose a folder below it)");
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new AssemblyException(out + ": exists and is not a directory; choose another output directory");
        }
        if (Files.isDirectory(out) && !isEmptyDirectory(out)) {
            if (!o.overwrite()) {
                throw new AssemblyException(out + ": already exists and is not empty; choose another output directory or allow overwriting it");
            }
            for (Path input : new Path[]{olmoDir, clipDir, o.projectorFrom(), o.imageNewlineFrom()}) {
                if (input != null && input.toAbsolutePath().normalize().startsWith(out)) {
                    throw new AssemblyException(out + ": holds an input of the assembly (" + input + "); overwriting it would destroy "
                            + "that input: choose another output directory");
                }
            }
        }
    }

    private static Path requireConfig(Path dir, String role, String what) {
        if (dir == null) throw new AssemblyException("no " + role + " directory given");
        if (!Files.isDirectory(dir)) throw new AssemblyException(dir + ": no such directory (the " + role + ", " + what + ")");
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new AssemblyException(dir + ": no config.json; the " + role + " must be " + what + " in Hugging Face layout");
        }
        return file;
    }

    private static JsonNode readJson(Path file) {
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) throw new AssemblyException(file + ": not a JSON object");
            return n;
        } catch (IOException e) {
            throw new AssemblyException(file + ": not valid JSON (" + reason(e) + ")", e);
        }
    }

    private static int intField(Path file, String where, JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.canConvertToExactIntegral() || !v.canConvertToInt() || v.asInt() < 1) {
            throw new AssemblyException(file + ": '" + where + field + "' must be a positive integer, got " + v);
        }
        return v.asInt();
    }

    private static Checkpoint open(Path dir, String role, List<AutoCloseable> open) {
        try {
            Checkpoint c = Checkpoint.open(dir);
            open.add(c);
            return c;
        } catch (SafeTensorsException e) {
            throw new AssemblyException(role + ": " + e.getMessage(), e);
        }
    }

    private static Checkpoint openWeights(Path from, String role, List<AutoCloseable> open) {
        String name = from.getFileName() == null ? "" : from.getFileName().toString();
        if (name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth")) {
            throw new AssemblyException(from + ": a PyTorch pickle file; only safetensors can be read. Convert it first, e.g. "
                    + "python -c \"import torch, safetensors.torch as s; s.save_file(torch.load('" + name + "'), '"
                    + name.replaceAll("\\.(bin|pt|pth)$", "") + ".safetensors')\"");
        }
        if (!Files.exists(from)) throw new AssemblyException(from + ": no such file or directory (the " + role + " to load)");
        return open(singleWeightsFile(from), role, open);
    }

    /**
     * A directory without model.safetensors or an index but with exactly one .safetensors file (a stage-1 output that
     * saved only the projector, e.g. mm_projector.safetensors) stands for that file.
     */
    private static Path singleWeightsFile(Path from) {
        if (!Files.isDirectory(from) || Files.exists(from.resolve("model.safetensors")) || Files.exists(from.resolve("model.safetensors.index.json"))) {
            return from;
        }
        try (Stream<Path> s = Files.list(from)) {
            List<Path> files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(p)).toList();
            return files.size() == 1 ? files.getFirst() : from;
        } catch (IOException e) {
            return from;
        }
    }

    private static Planned copy(Checkpoint ckpt, String source, String target, long[] shape, DType dtype, Path dir, Path config) {
        Tensor t = ckpt.get(source);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new AssemblyException(dir + ": tensor '" + source + "' has shape " + Arrays.toString(t.shape()) + ", but "
                    + config + " implies " + Arrays.toString(shape) + " (the config and the weights do not belong together)");
        }
        requireFloat(t, dir);
        return new Planned(target, dtype != null ? dtype : t.dtype(), shape, t, null);
    }

    private static void requireFloat(Tensor t, Path where) {
        if (!t.dtype().isFloatingPoint()) {
            throw new AssemblyException(where + ": tensor '" + t.name() + "' is " + t.dtype() + ", expected a float type (F32, BF16, F16)");
        }
    }

    private static void checkNames(Path dir, String role, Set<String> expected, Checkpoint ckpt, List<String> unexpected, String config) {
        List<String> missing = expected.stream().filter(n -> !ckpt.contains(n)).toList();
        reportNames(dir, role, missing, unexpected, config);
    }

    private static void reportNames(Path dir, String role, List<String> missing, List<String> unexpected, String config) {
        if (missing.isEmpty() && unexpected.isEmpty()) return;
        StringBuilder sb = new StringBuilder(dir + ": the " + role + "'s weights do not match " + config + ".");
        if (!missing.isEmpty()) sb.append("\n  missing tensors (").append(missing.size()).append("): ").append(summarize(missing));
        if (!unexpected.isEmpty()) sb.append("\n  unexpected tensors (").append(unexpected.size()).append("): ").append(summarize(unexpected));
        throw new AssemblyException(sb.toString());
    }

    private static String summarize(List<String> names) {
        List<String> s = names.stream().sorted().toList();
        return s.size() <= 8 ? String.join(", ", s) : String.join(", ", s.subList(0, 8)) + ", …";
    }

    /** mm_vision_tower: a hub id when the directory says which repo it is, else the directory itself. */
    static String visionTowerName(Path clipDir, Path configFile) {
        Path abs = clipDir.toAbsolutePath().normalize();
        var m = HF_CACHE_SNAPSHOT.matcher(abs.toString().replace('\\', '/'));
        if (m.matches()) return m.group(1) + "/" + m.group(2);
        String named = readJson(configFile).path("_name_or_path").asText("");
        if (REPO_ID.matcher(named).matches() && !named.contains("..") && !Files.exists(Path.of(named))) return named;
        return abs.toString();
    }

    private static String paddingSide(Path lmDir) {
        Path f = lmDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(f)) return "right";
        String side = readJson(f).path("padding_side").asText("right");
        return side.equals("left") ? "left" : "right";
    }

    static String torchDtype(DType d) {
        return switch (d) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        };
    }

    /** Keys in alphabetical order, as transformers writes config.json. */
    private static ObjectNode sorted(ObjectNode n) {
        TreeMap<String, JsonNode> m = new TreeMap<>();
        n.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue()));
        ObjectNode s = JSON.createObjectNode();
        m.forEach(s::set);
        return s;
    }

    /** The writer's temporary file is owner-only; the weights should be as readable as the config beside them. */
    private static void matchPermissions(Path file, Path like) {
        try {
            Files.setPosixFilePermissions(file, Files.getPosixFilePermissions(like));
        } catch (UnsupportedOperationException | IOException e) {
            // not a POSIX file system: nothing to match
        }
    }

    /** The file's bytes in a new file (not Files.copy, which would carry over a read-only source's permissions). */
    private static void copyContent(Path src, Path dst) throws IOException {
        try (var in = Files.newInputStream(src)) {
            Files.copy(in, dst);
        }
    }

    private static void writeJson(Path file, ObjectNode n) throws IOException {
        Files.writeString(file, JSON.writeValueAsString(n) + "\n");
    }

    private static boolean isEmptyDirectory(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    private static void deleteRecursively(Path p) {
        if (p == null || !Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        } catch (IOException | UncheckedIOException e) {
            // a leftover temporary directory is harmless: it is hidden and never looks like a checkpoint
        }
    }

    /** An I/O failure in words (the JDK's exception names mean nothing to a user). */
    private static String reason(Exception e) {
        return switch (e) {
            case DirectoryNotEmptyException d -> d.getFile() + " already exists and is not empty";
            case FileAlreadyExistsException f -> f.getFile() + " already exists";
            case java.nio.file.AccessDeniedException a -> "permission denied (" + a.getFile() + ")";
            case java.nio.file.NoSuchFileException n -> "no such file or directory (" + n.getFile() + ")";
            case java.nio.file.FileSystemException f when f.getReason() != null -> f.getReason() + " (" + f.getFile() + ")";
            default -> e.getMessage() == null ? "input/output error" : e.getMessage().lines().findFirst().orElse("input/output error");
        };
    }
}
