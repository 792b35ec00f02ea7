package io.instella.cli;

import io.instella.api.GenerateOptions;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * Decoding options of {@code run}, {@code chat} and {@code generate}. Left out, each takes the model's
 * generation_config.json value (transformers' defaults for what it does not set): for Instella-VL-1B that is greedy
 * decoding. The upstream README samples with temperature 0.2 (top-k 50, max 1024 new tokens): {@code --temperature 0.2}.
 * {@code generate} keeps the fixed defaults of its contract instead (see {@link GenerateCommand}).
 */
final class SamplingOptions {
    @Option(names = "--max-new-tokens", paramLabel = "N", converter = OptionValues.NonNegative.class,
            description = "Answer length limit in tokens, 0 = read the prompt only (default: the model's max_new_tokens, "
                    + "else 1024, capped to the context; generate: 256).")
    Integer maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", converter = OptionValues.Temperature.class,
            description = "Sampling temperature, 0 = greedy (default: the model's generation config; greedy for Instella-VL-1B). "
                    + "The upstream README samples at 0.2.")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", converter = OptionValues.NonNegative.class,
            description = "Keep the K most likely tokens when sampling, 0 = off (default: the model's, else 50; generate: 0).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", converter = OptionValues.TopP.class,
            description = "Nucleus sampling mass, 1 = off (default: the model's, else 1; generate: 1).")
    Double topP;

    @Option(names = "--min-p", paramLabel = "P", converter = OptionValues.MinP.class,
            description = "Drop tokens below P x the top probability, 0 = off (default: 0).")
    Double minP;

    @Option(names = "--repetition-penalty", paramLabel = "R", converter = OptionValues.RepetitionPenalty.class,
            description = "1 = off (default: the model's, else 1; generate: 1).")
    Double repetitionPenalty;

    @Option(names = "--seed", paramLabel = "S", converter = OptionValues.Seed.class,
            description = "Sampling seed, for reproducible answers.")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", converter = OptionValues.StopText.class,
            description = "Stop the answer before this text (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating past the end-of-answer token (for timing).")
    boolean ignoreEos;

    GenerateOptions toOptions() {
        GenerateOptions o = GenerateOptions.defaults();
        if (maxNewTokens != null) o = o.withMaxNewTokens(maxNewTokens);
        if (temperature != null) o = o.withTemperature(temperature);
        if (topK != null) o = o.withTopK(topK);
        if (topP != null) o = o.withTopP(topP);
        if (minP != null) o = o.withMinP(minP);
        if (repetitionPenalty != null) o = o.withRepetitionPenalty(repetitionPenalty);
        if (seed != null) o = o.withSeed(seed);
        if (!stop.isEmpty()) o = o.withStop(stop.toArray(String[]::new));
        return o.withIgnoreEos(ignoreEos);
    }
}
