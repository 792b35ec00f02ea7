package io.instella.model.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code generation_config.json}: the model's stop ids and sampling defaults. Absent fields take
 * transformers' GenerationConfig defaults (greedy, temperature 1, top_k 50, top_p 1).
 */
public record GenerationDefaults(List<Integer> eosTokenIds, Integer padTokenId, boolean doSample, double temperature,
                                 int topK, double topP, double repetitionPenalty, Integer maxNewTokens) {

    public static GenerationDefaults load(Path modelDir, InstellaConfig config) {
        Path file = modelDir.resolve("generation_config.json");
        List<Integer> eos = new ArrayList<>();
        if (!Files.isRegularFile(file)) {
            eos.add(config.eosTokenId());
            return new GenerationDefaults(eos, config.padTokenId(), false, 1.0, 50, 1.0, 1.0, null);
        }
        JsonNode n = Json.read(file);
        JsonNode e = n.get("eos_token_id");
        if (e == null || e.isNull()) eos.add(config.eosTokenId());
        else if (e.isArray()) e.forEach(x -> eos.add(x.asInt()));
        else eos.add(e.asInt());
        Integer pad = n.hasNonNull("pad_token_id") ? n.get("pad_token_id").asInt() : config.padTokenId();
        Integer maxNew = n.hasNonNull("max_new_tokens") ? n.get("max_new_tokens").asInt() : null;
        return new GenerationDefaults(List.copyOf(eos), pad,
                Json.optBool(file, n, "do_sample", false),
                Json.optDouble(file, n, "temperature", 1.0),
                Json.optInt(file, n, "top_k", 50, 0),
                Json.optDouble(file, n, "top_p", 1.0),
                Json.optDouble(file, n, "repetition_penalty", 1.0),
                maxNew);
    }
}
