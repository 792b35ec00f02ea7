package io.instella.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.model.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/**
 * {@code generation_config.json}: the model's stop ids and sampling defaults. Absent fields take
 * transformers' GenerationConfig defaults (greedy, temperature 1, top_k 50, top_p 1).
 *
 * <p>The stop (EOS) ids are the first non-empty of: generation_config.json's {@code eos_token_id}; config.json's
 * {@code eos_token_id}; the tokenizer's {@code eos_token} (tokenizer_config.json, else special_tokens_map.json)
 * looked up in tokenizer.json. Each {@code eos_token_id} may be an id, a list of ids, an empty list or null; an
 * empty list or null means "none given here". When none of them names an EOS, generation stops only at the
 * token limit or the end of the context.
 */
public record GenerationDefaults(List<Integer> eosTokenIds, Integer padTokenId, boolean doSample, double temperature,
                                 int topK, double topP, double repetitionPenalty, Integer maxNewTokens) {

    /** As {@link #load(Path, InstellaConfig, Tokenizer)}, reading tokenizer.json only if the EOS must come from it. */
    public static GenerationDefaults load(Path modelDir, InstellaConfig config) {
        return load(modelDir, config, null);
    }

    /**
     * @param tokenizer the model's tokenizer for the last EOS fallback; null to load tokenizer.json from modelDir
     *                  when that fallback is needed (and skip it when there is no tokenizer.json)
     * @throws ConfigException naming the file and the field when a value has the wrong type or range
     */
    public static GenerationDefaults load(Path modelDir, InstellaConfig config, Tokenizer tokenizer) {
        Path file = modelDir.resolve("generation_config.json");
        int vocab = config.text().vocabSize();
        if (!Files.exists(file)) {
            return new GenerationDefaults(eos(List.of(), modelDir, config, tokenizer), config.padTokenId(),
                    false, 1.0, 50, 1.0, 1.0, null);
        }
        JsonNode n = Json.read(file);
        List<Integer> own = Json.tokenIds(file, n, "eos_token_id", vocab);
        Integer pad = Json.padTokenId(file, n, config.text().vocabSize());
        return new GenerationDefaults(eos(own, modelDir, config, tokenizer), pad != null ? pad : config.padTokenId(),
                Json.optBool(file, n, "do_sample", false),
                Json.optDouble(file, "", n, "temperature", 1.0, 0, false, Double.MAX_VALUE),
                Json.optInt(file, n, "top_k", 50, 0),
                Json.optDouble(file, "", n, "top_p", 1.0, 0, false, 1),
                Json.optDouble(file, "", n, "repetition_penalty", 1.0, 0, true, Double.MAX_VALUE),
                Json.optInteger(file, n, "max_new_tokens", 0, Integer.MAX_VALUE));
    }

    private static List<Integer> eos(List<Integer> fromGenerationConfig, Path modelDir, InstellaConfig config, Tokenizer tokenizer) {
        if (!fromGenerationConfig.isEmpty()) return List.copyOf(fromGenerationConfig);
        if (!config.eosTokenIds().isEmpty()) return config.eosTokenIds();
        String token = tokenizerEosToken(modelDir);
        if (token == null) return List.of();
        if (tokenizer == null) {
            Path tokenizerJson = modelDir.resolve("tokenizer.json");
            if (!Files.isRegularFile(tokenizerJson)) return List.of();
            tokenizer = Tokenizer.load(tokenizerJson, config.text().vocabSize());
        }
        OptionalInt id = tokenizer.tokenId(token);
        return id.isPresent() ? List.of(id.getAsInt()) : List.of();
    }

    /** The eos_token of tokenizer_config.json, else of special_tokens_map.json (a string or {"content": ...}); null if none. */
    private static String tokenizerEosToken(Path modelDir) {
        for (String name : new String[]{"tokenizer_config.json", "special_tokens_map.json"}) {
            Path f = modelDir.resolve(name);
            if (!Files.exists(f)) continue;
            JsonNode v = Json.read(f).get("eos_token");
            if (v == null || v.isNull()) continue;
            if (v.isTextual()) return v.textValue();
            if (v.isObject() && v.path("content").isTextual()) return v.get("content").textValue();
            throw new ConfigException(f + ": field 'eos_token' must be a string or an object with a \"content\" string, got " + v);
        }
        return null;
    }
}
