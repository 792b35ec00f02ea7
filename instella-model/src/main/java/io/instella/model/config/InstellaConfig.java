package io.instella.model.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * An Instella-VL {@code config.json} ({@code InstellaVLConfig}: OlmoConfig fields plus {@code mm_*} fields),
 * validated. A plain OLMo config ({@code model_type} "olmo") loads too, as a text-only model.
 * The vision tower's own shape is not in this file; {@link #resolveVision} finds it.
 */
public record InstellaConfig(
        Path file,
        String modelType,
        TextConfig text,
        List<Integer> eosTokenIds,
        Integer padTokenId,
        int contextLength,
        Multimodal multimodal) {

    /**
     * Generous upper bounds for the language model's dimensions: far above any released model of this family
     * (OLMo 1B: hidden 2048, 16 layers, 50304 tokens), low enough that a config claiming more is refused at once
     * instead of driving the loader into minutes of allocation.
     */
    public static final int MAX_HIDDEN_SIZE = 1 << 16;
    public static final int MAX_INTERMEDIATE_SIZE = 1 << 18;
    public static final int MAX_LAYERS = 1024;
    public static final int MAX_HEADS = 1024;
    public static final int MAX_VOCAB_SIZE = 1 << 22;
    public static final int MAX_POSITIONS = 1 << 24;
    /** Projector depth N of mlpNx_gelu, tile budget N of anyres_max_N, pinpoint sides and count. */
    public static final int MAX_PROJECTOR_DEPTH = 64, MAX_ANYRES_MAX = 1024, MAX_PINPOINT_SIDE = 1 << 14, MAX_PINPOINTS = 1024;

    /** The {@code mm_*} fields; null for a text-only checkpoint. */
    public record Multimodal(
            String visionTowerName,
            int mmHiddenSize,
            String projectorType,
            int selectLayer,
            String selectFeature,
            String patchMergeType,
            String imageAspectRatio,
            List<int[]> gridPinpoints,
            VisionConfig vision,
            Path preprocessorConfig) {}

    public boolean hasVision() { return multimodal != null; }

    /**
     * The first of {@link #eosTokenIds}, for callers that want one id; empty when config.json names none
     * ({@code "eos_token_id": []} or null).
     */
    public Optional<Integer> eosTokenId() { return eosTokenIds.isEmpty() ? Optional.empty() : Optional.of(eosTokenIds.getFirst()); }

    public static InstellaConfig load(Path modelDir) {
        Path file = Files.isDirectory(modelDir) ? modelDir.resolve("config.json") : modelDir;
        JsonNode n = Json.read(file);
        String type = Json.optString(file, n, "model_type", null);
        if (type == null) throw new ConfigException(file + ": missing 'model_type' (expected \"instellavl\" or \"olmo\")");
        if (!type.equals("instellavl") && !type.equals("olmo") && !type.equals("llava_olmo")) {
            throw new ConfigException(file + ": model_type '" + type + "' is not supported (expected \"instellavl\" or \"olmo\")");
        }
        String act = Json.optString(file, n, "hidden_act", "silu");
        if (!act.equals("silu")) throw new ConfigException(file + ": hidden_act '" + act + "' is not supported (OLMo uses silu)");
        JsonNode rs = n.get("rope_scaling");
        if (rs != null && !rs.isNull()) throw new ConfigException(file + ": rope_scaling " + rs + " is not supported (only null)");
        Double clipQkv = n.hasNonNull("clip_qkv")
                ? Json.optDouble(file, "", n, "clip_qkv", 0, 0, true, Double.MAX_VALUE) : null;
        int hidden = Json.requireInt(file, n, "hidden_size", 1, MAX_HIDDEN_SIZE);
        int heads = Json.requireInt(file, n, "num_attention_heads", 1, MAX_HEADS);
        int kvHeads = Json.optInt(file, n, "num_key_value_heads", heads, 1, MAX_HEADS);
        if (hidden % heads != 0) throw new ConfigException(file + ": hidden_size " + hidden + " is not divisible by num_attention_heads " + heads);
        if (heads % kvHeads != 0) throw new ConfigException(file + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        if ((hidden / heads) % 2 != 0) throw new ConfigException(file + ": head dimension " + hidden / heads + " must be even for RoPE");
        int vocab = Json.requireInt(file, n, "vocab_size", 1, MAX_VOCAB_SIZE);
        TextConfig text = new TextConfig(
                hidden,
                Json.requireInt(file, n, "intermediate_size", 1, MAX_INTERMEDIATE_SIZE),
                Json.requireInt(file, n, "num_hidden_layers", 1, MAX_LAYERS),
                heads, kvHeads,
                vocab,
                Json.optInt(file, n, "max_position_embeddings", 2048, 1, MAX_POSITIONS),
                Json.optDouble(file, "", n, "rope_theta", 10000.0, 0, true, Double.MAX_VALUE),
                Json.optBool(file, n, "tie_word_embeddings", true),
                clipQkv,
                Json.optBool(file, n, "attention_bias", false),
                1e-5f);
        // int, list, [] or null; [] and null mean "no EOS here" (GenerationDefaults then looks further).
        List<Integer> eos = List.copyOf(Json.tokenIds(file, n, "eos_token_id", vocab));
        Integer pad = Json.padTokenId(file, n, vocab);
        Multimodal mm = null;
        if (n.hasNonNull("mm_vision_tower") || n.hasNonNull("mm_projector_type")) {
            mm = parseMultimodal(file, n, text);
        }
        // The model was trained on sequences up to tokenizer_model_max_length (32768) without RoPE scaling;
        // max_position_embeddings (2048) is OLMo's pre-training length and image prompts exceed it (spec §1.2).
        int ctx = Json.optInt(file, n, "tokenizer_model_max_length", text.maxPositionEmbeddings(), 1, MAX_POSITIONS);
        return new InstellaConfig(file, type, text, eos, pad, ctx, mm);
    }

    private static Multimodal parseMultimodal(Path file, JsonNode n, TextConfig text) {
        String tower = Json.optString(file, n, "mm_vision_tower", null);
        if (tower == null) throw new ConfigException(file + ": has mm_* fields but no 'mm_vision_tower'");
        String projector = Json.optString(file, n, "mm_projector_type", "linear");
        java.util.regex.Matcher mlp = java.util.regex.Pattern.compile("^mlp([0-9]{1,9})x_gelu$").matcher(projector);
        if (!mlp.matches() && !projector.equals("linear")) {
            throw new ConfigException(file + ": mm_projector_type '" + projector + "' is not supported (linear, mlpNx_gelu)");
        }
        if (mlp.matches() && (Integer.parseInt(mlp.group(1)) < 1 || Integer.parseInt(mlp.group(1)) > MAX_PROJECTOR_DEPTH)) {
            throw new ConfigException(file + ": mm_projector_type '" + projector + "': the depth must be 1 to " + MAX_PROJECTOR_DEPTH);
        }
        String feature = Json.optString(file, n, "mm_vision_select_feature", "patch");
        if (!feature.equals("patch") && !feature.equals("cls_patch")) {
            throw new ConfigException(file + ": mm_vision_select_feature '" + feature + "' is not supported (patch, cls_patch)");
        }
        String merge = Json.optString(file, n, "mm_patch_merge_type", "flat");
        if (!merge.equals("flat") && !merge.equals("spatial") && !merge.equals("spatial_unpad")) {
            throw new ConfigException(file + ": mm_patch_merge_type '" + merge + "' is not supported (flat, spatial, spatial_unpad)");
        }
        String aspect = Json.optString(file, n, "image_aspect_ratio", "square");
        if (!aspect.equals("square") && !aspect.equals("pad") && !aspect.equals("anyres") && !aspect.matches("anyres_max_[0-9]{1,9}")) {
            throw new ConfigException(file + ": image_aspect_ratio '" + aspect + "' is not supported (square, pad, anyres, anyres_max_N)");
        }
        if (aspect.startsWith("anyres_max_")) {
            int max = Integer.parseInt(aspect.substring("anyres_max_".length()));
            if (max < 1 || max > MAX_ANYRES_MAX) {
                throw new ConfigException(file + ": image_aspect_ratio '" + aspect + "': N must be 1 to " + MAX_ANYRES_MAX);
            }
        }
        List<int[]> pinpoints = new ArrayList<>();
        JsonNode pp = n.get("image_grid_pinpoints");
        if (pp != null && !pp.isNull()) {
            if (!pp.isArray()) throw new ConfigException(file + ": image_grid_pinpoints must be a list of [width, height] pairs");
            if (pp.size() > MAX_PINPOINTS) {
                throw new ConfigException(file + ": image_grid_pinpoints has " + pp.size() + " entries (at most " + MAX_PINPOINTS + ")");
            }
            for (JsonNode p : pp) {
                if (!p.isArray() || p.size() != 2) {
                    throw new ConfigException(file + ": image_grid_pinpoints entry " + p + " is not a [width, height] pair of positive integers");
                }
                pinpoints.add(new int[]{Json.toInt(file, "image_grid_pinpoints " + p + " width", p.get(0), 1, MAX_PINPOINT_SIDE),
                        Json.toInt(file, "image_grid_pinpoints " + p + " height", p.get(1), 1, MAX_PINPOINT_SIDE)});
            }
        }
        if (aspect.startsWith("anyres") && pinpoints.isEmpty()) {
            throw new ConfigException(file + ": image_aspect_ratio '" + aspect + "' needs image_grid_pinpoints");
        }
        Path dir = file.getParent();
        VisionConfig vision = resolveVision(file, n, dir, tower);
        int mmHidden = Json.optInt(file, n, "mm_hidden_size", vision.hiddenSize(), 1, VisionConfig.MAX_HIDDEN_SIZE);
        if (mmHidden != vision.hiddenSize()) {
            throw new ConfigException(file + ": mm_hidden_size " + mmHidden + " differs from the vision tower's hidden_size "
                    + vision.hiddenSize() + " (" + vision.source() + ")");
        }
        int select = Json.optInt(file, n, "mm_vision_select_layer", -2, Integer.MIN_VALUE + 1);
        int states = vision.numLayers() + 1;
        if (select >= states || select < -states) {
            throw new ConfigException(file + ": mm_vision_select_layer " + select + " is out of range for a " + vision.numLayers() + "-layer tower");
        }
        for (int[] p : pinpoints) {
            if (p[0] % vision.imageSize() != 0 || p[1] % vision.imageSize() != 0) {
                throw new ConfigException(file + ": pinpoint " + p[0] + "x" + p[1] + " is not a multiple of the tile size " + vision.imageSize());
            }
        }
        return new Multimodal(tower, mmHidden, projector, select, feature, merge, aspect, List.copyOf(pinpoints),
                vision, resolvePreprocessor(dir, tower).orElse(null));
    }

    /**
     * The tower's config, in order: a vision config embedded in config.json; a {@code vision_tower/} folder
     * beside the checkpoint; the named repo's config.json in the local Hugging Face cache; a built-in table.
     */
    static VisionConfig resolveVision(Path file, JsonNode n, Path dir, String towerName) {
        for (String key : new String[]{"vision_config", "mm_vision_config"}) {
            if (n.hasNonNull(key) && !n.get(key).isObject()) {
                throw new ConfigException(file + ": field '" + key + "' must be an object (the vision tower's config), got " + n.get(key));
            }
            if (n.hasNonNull(key)) return VisionConfig.parse(file, key + ".", n.get(key), file + " (" + key + ")");
        }
        Path local = dir.resolve("vision_tower").resolve("config.json");
        if (Files.isRegularFile(local)) return VisionConfig.parse(local, "", Json.read(local), local.toString());
        Optional<Path> cached = cachedRepoFile(towerName, "config.json");
        if (cached.isPresent()) return VisionConfig.parse(cached.get(), "", Json.read(cached.get()), cached.get().toString());
        return switch (towerName) {
            case "openai/clip-vit-large-patch14-336" -> VisionConfig.clipVitLarge336();
            case "openai/clip-vit-large-patch14" -> VisionConfig.clipVitLarge224();
            default -> throw new ConfigException(file + ": cannot find the config of vision tower '" + towerName
                    + "': add a vision_tower/config.json beside the checkpoint, or download " + towerName + "'s config.json");
        };
    }

    static Optional<Path> resolvePreprocessor(Path dir, String towerName) {
        Path local = dir.resolve("vision_tower").resolve("preprocessor_config.json");
        if (Files.isRegularFile(local)) return Optional.of(local);
        return cachedRepoFile(towerName, "preprocessor_config.json");
    }

    /** A file of a repo in the standard Hugging Face cache, from the snapshot that refs/main points to. */
    private static final java.util.regex.Pattern REPO_ID =
            java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}");

    static Optional<Path> cachedRepoFile(String repoId, String name) {
        // Only a Hugging Face repo id ("org/name") can name a cache folder: anything else (a path, NUL bytes) is not one.
        if (repoId == null || !REPO_ID.matcher(repoId).matches() || repoId.contains("..")) return Optional.empty();
        Path cache = hfCacheDir();
        Path repo = cache.resolve("models--" + repoId.replace("/", "--"));
        Path snapshots = repo.resolve("snapshots");
        if (!Files.isDirectory(snapshots)) return Optional.empty();
        try {
            Path ref = repo.resolve("refs").resolve("main");
            if (Files.isRegularFile(ref)) {
                Path p = snapshots.resolve(Files.readString(ref).trim()).resolve(name);
                if (Files.isRegularFile(p)) return Optional.of(p);
            }
            try (Stream<Path> s = Files.list(snapshots)) {
                return s.map(d -> d.resolve(name)).filter(Files::isRegularFile)
                        .max(Comparator.comparingLong(p -> p.toFile().lastModified()));
            }
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    static Path hfCacheDir() {
        String hub = System.getenv("HF_HUB_CACHE");
        if (hub != null && !hub.isBlank()) return Path.of(hub);
        String home = System.getenv("HF_HOME");
        if (home != null && !home.isBlank()) return Path.of(home, "hub");
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "huggingface", "hub");
        return Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub");
    }
}
