package io.instella.model.lora;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The settings of a LoRA adapter, as peft's {@code LoraConfig} saves them in {@code adapter_config.json}
 * (peft_type "LORA"). Module names are those of the Hugging Face model, e.g. {@code model.layers.0.self_attn.q_proj}
 * for the weight {@code model.layers.0.self_attn.q_proj.weight}.
 *
 * <p>Target modules follow peft's rule: a list selects every module whose name equals an entry or ends with
 * {@code "." + entry}; a single string is a regular expression the whole module name must match. Note that a list
 * such as {@code ["q_proj", "v_proj"]} also selects the CLIP tower's {@code self_attn.q_proj/v_proj}, as in peft; the
 * default here, {@link #LANGUAGE_MODEL_LINEAR}, is a regular expression that selects the language model's seven
 * projections in every layer and nothing else.
 *
 * @param r                     rank of every adapter pair (unless {@code rankPattern} says otherwise)
 * @param loraAlpha             the scale numerator: scale = alpha / r (alpha / √r with {@code useRslora})
 * @param loraDropout           dropout on the adapter's input during training (no effect on inference or merging)
 * @param targetModules         list form of target_modules (null when {@code targetModulesRegex} is used)
 * @param targetModulesRegex    string form of target_modules: a regex matched against the whole module name
 * @param excludeModules        modules never adapted (same list rule as targetModules); empty for none
 * @param modulesToSave         modules trained in full and saved whole (e.g. {@code mm_projector}); empty for none
 * @param useRslora             rank-stabilised scale alpha / √r
 * @param baseModelNameOrPath   the base model the adapter was trained on (informational; may be null)
 * @param rankPattern           per-module rank overrides (peft's rank_pattern: key regex → rank)
 * @param alphaPattern          per-module alpha overrides (peft's alpha_pattern: key regex → alpha)
 */
public record LoraConfig(int r, double loraAlpha, double loraDropout, List<String> targetModules, String targetModulesRegex,
                         List<String> excludeModules, List<String> modulesToSave, boolean useRslora,
                         String baseModelNameOrPath, Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) {

    /** File name of the config in an adapter directory (peft's CONFIG_NAME). */
    public static final String FILE_NAME = "adapter_config.json";

    /** Every linear layer of the OLMo language model (attention q/k/v/o and MLP gate/up/down), nothing else. */
    public static final List<String> LANGUAGE_MODEL_PROJECTIONS =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    /** The default target: {@link #languageModelTargets} of all {@link #LANGUAGE_MODEL_PROJECTIONS}. */
    public static final String LANGUAGE_MODEL_LINEAR = languageModelTargets(LANGUAGE_MODEL_PROJECTIONS);

    /**
     * peft's {@code "all-linear"} shorthand spelled out for Instella-VL: every Linear module except the output head,
     * i.e. the language model's projections, the CLIP tower's attention and MLP layers, and the projector's two layers.
     * (peft itself replaces the shorthand by the module names it finds before saving.)
     */
    public static final String ALL_LINEAR = "model\\.layers\\.\\d+\\.(self_attn|mlp)\\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
            + "|model\\.vision_tower\\.vision_tower\\.vision_model\\.encoder\\.layers\\.\\d+\\.(self_attn\\.(q|k|v|out)_proj|mlp\\.fc[12])"
            + "|model\\.mm_projector\\.\\d+";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(SerializationFeature.INDENT_OUTPUT);

    public LoraConfig {
        if (r < 1) throw new IllegalArgumentException("LoRA rank r must be at least 1, got " + r);
        if (!Double.isFinite(loraAlpha)) throw new IllegalArgumentException("lora_alpha must be a finite number, got " + loraAlpha);
        if (!(loraDropout >= 0 && loraDropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + loraDropout);
        if ((targetModules == null) == (targetModulesRegex == null)) {
            throw new IllegalArgumentException("give target modules either as a list or as one regular expression");
        }
        targetModules = targetModules == null ? null : List.copyOf(targetModules);
        if (targetModules != null && targetModules.isEmpty()) throw new IllegalArgumentException("target_modules is empty: name at least one module");
        if (targetModulesRegex != null) compile("target_modules", targetModulesRegex);
        excludeModules = excludeModules == null ? List.of() : List.copyOf(excludeModules);
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
        rankPattern = rankPattern == null ? Map.of() : Map.copyOf(rankPattern);
        alphaPattern = alphaPattern == null ? Map.of() : Map.copyOf(alphaPattern);
        rankPattern.forEach((k, v) -> {
            compile("rank_pattern", k);
            if (v < 1) throw new IllegalArgumentException("rank_pattern['" + k + "'] must be at least 1, got " + v);
        });
        alphaPattern.keySet().forEach(k -> compile("alpha_pattern", k));
    }

    /**
     * A config for training: rank, alpha, dropout, and a target list (null or empty: {@link #LANGUAGE_MODEL_LINEAR}).
     * A list that holds one entry with regex characters is taken as a regex, as peft takes a string; the single entry
     * {@code all-linear} is {@link #ALL_LINEAR}.
     */
    public static LoraConfig of(int r, double alpha, double dropout, List<String> targets, List<String> modulesToSave,
                                String baseModel) {
        List<String> list = targets == null || targets.isEmpty() ? null : targets;
        String regex = list == null ? LANGUAGE_MODEL_LINEAR : null;
        if (list != null && list.size() == 1 && list.getFirst().equals("all-linear")) {
            regex = ALL_LINEAR;
            list = null;
        }
        if (list != null && list.size() == 1 && list.getFirst().matches(".*[\\\\^$*+?()\\[\\]{}|].*")) {
            regex = list.getFirst();
            list = null;
        }
        return new LoraConfig(r, alpha, dropout, list, regex, List.of(), modulesToSave, false, baseModel, Map.of(), Map.of());
    }

    /**
     * A regex (peft's string form of target_modules) selecting the named projections (e.g. q_proj, down_proj) of
     * the language model's layers only: {@code model.layers.N.self_attn.X} or {@code model.layers.N.mlp.X}.
     */
    public static String languageModelTargets(List<String> projections) {
        if (projections.isEmpty()) throw new IllegalArgumentException("name at least one projection");
        for (String p : projections) {
            if (!p.matches("[A-Za-z0-9_]+")) throw new IllegalArgumentException("'" + p + "' is not a module name (e.g. q_proj)");
        }
        return "model\\.layers\\.\\d+\\.(self_attn|mlp)\\.(" + String.join("|", projections) + ")";
    }

    /** This config with another base model name (written into adapter_config.json for peft to find the base). */
    public LoraConfig withBaseModel(String nameOrPath) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, targetModulesRegex, excludeModules, modulesToSave,
                useRslora, nameOrPath, rankPattern, alphaPattern);
    }

    /** This config with other fully trained modules (peft's modules_to_save, e.g. {@code ["mm_projector"]}). */
    public LoraConfig withModulesToSave(List<String> modules) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, targetModulesRegex, excludeModules, modules,
                useRslora, baseModelNameOrPath, rankPattern, alphaPattern);
    }

    /** This config with the rank-stabilised scale (alpha / √r) on or off. */
    public LoraConfig withRslora(boolean on) {
        return new LoraConfig(r, loraAlpha, loraDropout, targetModules, targetModulesRegex, excludeModules, modulesToSave,
                on, baseModelNameOrPath, rankPattern, alphaPattern);
    }

    /**
     * Whether peft would put an adapter on the module {@code moduleName} (e.g. {@code model.layers.0.mlp.up_proj}):
     * not excluded, not inside a module to save, and selected by target_modules.
     */
    public boolean targets(String moduleName) {
        if (matchesList(excludeModules, moduleName)) return false;
        for (String m : modulesToSave) {
            if (compile("modules_to_save", "(^|.*\\.)" + m + "($|\\..*)").matcher(moduleName).matches()) return false;
        }
        if (targetModulesRegex != null) return compile("target_modules", targetModulesRegex).matcher(moduleName).matches();
        return matchesList(targetModules, moduleName);
    }

    /** Whether the tensor {@code tensorName} (e.g. {@code model.mm_projector.0.weight}) belongs to a module to save. */
    public boolean savesWhole(String tensorName) {
        for (String m : modulesToSave) {
            if (compile("modules_to_save", "(^|.*\\.)" + Pattern.quote(m) + "\\..*").matcher(tensorName).matches()) return true;
        }
        return false;
    }

    private static boolean matchesList(List<String> names, String moduleName) {
        for (String t : names) {
            if (moduleName.equals(t) || moduleName.endsWith("." + t)) return true;
        }
        return false;
    }

    /** The rank of the adapter on {@code moduleName}: rank_pattern's entry for it, else r. */
    public int rankFor(String moduleName) {
        String key = patternKey(rankPattern.keySet(), moduleName);
        return key == null ? r : rankPattern.get(key);
    }

    /** The alpha of the adapter on {@code moduleName}: alpha_pattern's entry for it, else lora_alpha. */
    public double alphaFor(String moduleName) {
        String key = patternKey(alphaPattern.keySet(), moduleName);
        return key == null ? loraAlpha : alphaPattern.get(key);
    }

    /** The factor peft multiplies B·A by for {@code moduleName}: alpha / r, or alpha / √r with use_rslora. */
    public double scaleFor(String moduleName) {
        int rank = rankFor(moduleName);
        double alpha = alphaFor(moduleName);
        return useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }

    /** peft's get_pattern_key: the first key such that the module name ends with it after a dot (or is it). */
    private static String patternKey(Iterable<String> keys, String moduleName) {
        for (String k : keys) {
            if (compile("pattern", "(.*\\.)?(" + k + ")").matcher(moduleName).matches()) return k;
        }
        return null;
    }

    private static Pattern compile(String field, String regex) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException(field + " '" + regex + "' is not a valid regular expression: " + e.getDescription());
        }
    }

    // ---------------------------------------------------------------- adapter_config.json

    /** The JSON peft writes (keys sorted, as peft's save_pretrained does), with inference_mode true. */
    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        ObjectNode alpha = o.putObject("alpha_pattern");
        new TreeMap<>(alphaPattern).forEach(alpha::put);
        o.putNull("auto_mapping");
        if (baseModelNameOrPath == null) o.putNull("base_model_name_or_path");
        else o.put("base_model_name_or_path", baseModelNameOrPath);
        o.put("bias", "none");
        o.put("fan_in_fan_out", false);
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putNull("layers_pattern");
        o.putNull("layers_to_transform");
        if (loraAlpha == Math.rint(loraAlpha) && Math.abs(loraAlpha) < 1e15) o.put("lora_alpha", (long) loraAlpha);
        else o.put("lora_alpha", loraAlpha);
        o.put("lora_dropout", loraDropout);
        if (modulesToSave.isEmpty()) o.putNull("modules_to_save");
        else modulesToSave.forEach(o.putArray("modules_to_save")::add);
        o.put("peft_type", "LORA");
        o.put("r", r);
        ObjectNode rank = o.putObject("rank_pattern");
        new TreeMap<>(rankPattern).forEach(rank::put);
        o.putNull("revision");
        if (targetModulesRegex != null) o.put("target_modules", targetModulesRegex);
        else targetModules.forEach(o.putArray("target_modules")::add);
        o.put("task_type", "CAUSAL_LM");
        o.put("use_dora", false);
        o.put("use_rslora", useRslora);
        if (!excludeModules.isEmpty()) excludeModules.forEach(o.putArray("exclude_modules")::add);
        try {
            return JSON.writeValueAsString(sorted(o));
        } catch (IOException e) {
            throw new IllegalStateException("cannot format adapter_config.json", e);
        }
    }

    private static ObjectNode sorted(ObjectNode o) {
        ObjectNode s = JSON.createObjectNode();
        new TreeMap<String, JsonNode>(toMap(o)).forEach(s::set);
        return s;
    }

    private static Map<String, JsonNode> toMap(ObjectNode o) {
        Map<String, JsonNode> m = new LinkedHashMap<>();
        o.properties().forEach(e -> m.put(e.getKey(), e.getValue()));
        return m;
    }

    /** Writes {@code adapter_config.json} into {@code dir} (moved into place complete). */
    public void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + FILE_NAME + ".", ".partial");
        try {
            Files.writeString(tmp, toJson() + "\n");
            Files.move(tmp, dir.resolve(FILE_NAME), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Reads {@code dir/adapter_config.json}; every unsupported or malformed field is a clear error. */
    public static LoraConfig read(Path dir) {
        Path file = dir.resolve(FILE_NAME);
        JsonNode root;
        try {
            if (Files.size(file) > (4 << 20)) throw new LoraException(file + ": too large for an adapter config");
            root = JSON.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new LoraException(dir + ": no " + FILE_NAME + " (a LoRA adapter directory holds adapter_config.json and "
                    + "adapter_model.safetensors, as peft's save_pretrained writes them)");
        } catch (IOException e) {
            throw new LoraException(file + ": not valid JSON (" + String.valueOf(e.getMessage()).lines().findFirst().orElse("") + ")", e);
        }
        if (root == null || !root.isObject()) throw new LoraException(file + ": not a JSON object");
        return fromJson(file, root);
    }

    static LoraConfig fromJson(Path file, JsonNode o) {
        String peftType = text(file, o, "peft_type", null);
        if (peftType == null) throw new LoraException(file + ": missing 'peft_type' (expected \"LORA\")");
        if (!peftType.equals("LORA")) {
            throw new LoraException(file + ": peft_type is \"" + peftType + "\"; only LoRA adapters (\"LORA\") are supported");
        }
        unsupportedIfTrue(file, o, "use_dora", "DoRA adapters");
        unsupportedIfTrue(file, o, "fan_in_fan_out", "fan_in_fan_out (Conv1D layers, GPT-2 style)");
        unsupportedIfTrue(file, o, "lora_bias", "LoRA biases (lora_bias)");
        unsupportedIfTrue(file, o, "use_qalora", "QALoRA");
        for (String f : List.of("layers_to_transform", "layer_replication", "target_parameters", "trainable_token_indices")) {
            JsonNode v = o.get(f);
            if (v != null && !v.isNull() && !(v.isContainerNode() && v.isEmpty())) {
                throw new LoraException(file + ": '" + f + "' is set (" + v + "); adapters that use it are not supported");
            }
        }
        int r = integer(file, o, "r", 8);
        double alpha = number(file, o, "lora_alpha", 8);
        double dropout = number(file, o, "lora_dropout", 0);
        JsonNode targets = o.get("target_modules");
        List<String> targetList = null;
        String targetRegex = null;
        if (targets == null || targets.isNull()) {
            throw new LoraException(file + ": 'target_modules' is missing or null; name the adapted modules");
        } else if (targets.isTextual()) {
            targetRegex = targets.textValue();
        } else {
            targetList = strings(file, o, "target_modules");
        }
        List<String> exclude = new ArrayList<>();
        JsonNode ex = o.get("exclude_modules");
        if (ex != null && ex.isTextual()) {
            throw new LoraException(file + ": 'exclude_modules' as a regular expression is not supported; give a list");
        }
        if (ex != null && !ex.isNull()) exclude = strings(file, o, "exclude_modules");
        JsonNode save = o.get("modules_to_save");
        List<String> modulesToSave = save == null || save.isNull() ? List.of() : strings(file, o, "modules_to_save");
        boolean rslora = bool(file, o, "use_rslora");
        String base = text(file, o, "base_model_name_or_path", null);
        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        patterns(file, o, "rank_pattern").forEach((k, v) -> {
            if (!v.canConvertToInt() || !v.isIntegralNumber()) throw new LoraException(file + ": rank_pattern['" + k + "'] is " + v + ", expected an integer");
            rankPattern.put(k, v.intValue());
        });
        Map<String, Double> alphaPattern = new LinkedHashMap<>();
        patterns(file, o, "alpha_pattern").forEach((k, v) -> {
            if (!v.isNumber()) throw new LoraException(file + ": alpha_pattern['" + k + "'] is " + v + ", expected a number");
            alphaPattern.put(k, v.doubleValue());
        });
        try {
            return new LoraConfig(r, alpha, dropout, targetList, targetRegex, exclude, modulesToSave, rslora, base, rankPattern, alphaPattern);
        } catch (IllegalArgumentException e) {
            throw new LoraException(file + ": " + e.getMessage());
        }
    }

    private static void unsupportedIfTrue(Path file, JsonNode o, String field, String what) {
        if (bool(file, o, field)) throw new LoraException(file + ": '" + field + "' is true; " + what + " are not supported");
    }

    private static boolean bool(Path file, JsonNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return false;
        if (!v.isBoolean()) throw new LoraException(file + ": '" + field + "' is " + v + ", expected true or false");
        return v.booleanValue();
    }

    private static String text(Path file, JsonNode o, String field, String otherwise) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return otherwise;
        if (!v.isTextual()) throw new LoraException(file + ": '" + field + "' is " + v + ", expected a string");
        return v.textValue();
    }

    private static int integer(Path file, JsonNode o, String field, int otherwise) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return otherwise;
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 1) {
            throw new LoraException(file + ": '" + field + "' is " + v + ", expected a positive integer");
        }
        return v.intValue();
    }

    private static double number(Path file, JsonNode o, String field, double otherwise) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return otherwise;
        if (!v.isNumber()) throw new LoraException(file + ": '" + field + "' is " + v + ", expected a number");
        return v.doubleValue();
    }

    private static List<String> strings(Path file, JsonNode o, String field) {
        JsonNode v = o.get(field);
        if (!v.isArray()) throw new LoraException(file + ": '" + field + "' is " + v + ", expected a list of module names");
        List<String> out = new ArrayList<>();
        for (JsonNode e : (ArrayNode) v) {
            if (!e.isTextual() || e.textValue().isEmpty()) {
                throw new LoraException(file + ": '" + field + "' holds " + e + ", expected module names (strings)");
            }
            out.add(e.textValue());
        }
        return out;
    }

    private static Map<String, JsonNode> patterns(Path file, JsonNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) return Map.of();
        if (!v.isObject()) throw new LoraException(file + ": '" + field + "' is " + v + ", expected an object");
        return toMap((ObjectNode) v);
    }
}
