package io.instella.api;

import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Decoding settings. A {@code null} field takes the model's default from its {@code generation_config.json},
 * with transformers' defaults for what that file leaves out. Instella-VL-1B's file sets no sampling, so the
 * default is greedy decoding, up to 1024 new tokens (or what is left of the context). The upstream README samples
 * with {@code do_sample=True, temperature=0.2, max_new_tokens=1024} (transformers then applies top_k 50): that is
 * {@link #referenceSampling()}.
 *
 * <p>Filters apply in transformers' order: repetition penalty, temperature, top-k, top-p, min-p.
 *
 * @param maxNewTokens      tokens to generate at most (0: read the prompt only); null: 1024, or the model's max_new_tokens, capped to the context
 * @param temperature       0 = greedy; null: the model's default (greedy unless its config says do_sample)
 * @param topK              0 = off; null: the model's (transformers' default 50)
 * @param topP              1 = off; null: the model's (1)
 * @param minP              0 = off; null: 0
 * @param repetitionPenalty 1 = off; null: the model's (1)
 * @param seed              sampling seed for reproducible answers; null: random
 * @param stop              the answer stops before the first of these strings
 * @param ignoreEos         keep generating past the end-of-sequence token (benchmarks)
 * @param cancellation      polled between images, prompt chunks and tokens; returning true ends the answer
 *                          with {@link FinishReason#CANCELLED}; null: never
 */
public record GenerateOptions(Integer maxNewTokens, Double temperature, Integer topK, Double topP, Double minP,
                              Double repetitionPenalty, Long seed, List<String> stop, boolean ignoreEos,
                              BooleanSupplier cancellation) {

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException when a value is out of its range (each parameter says its range)
     */
    public GenerateOptions {
        if (maxNewTokens != null && maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        if (temperature != null && !(temperature >= 0 && temperature < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK != null && topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        if (topP != null && !(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        if (minP != null && !(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("minP must be in [0, 1], got " + minP);
        if (repetitionPenalty != null && !(repetitionPenalty > 0)) {
            throw new IllegalArgumentException("repetitionPenalty must be > 0, got " + repetitionPenalty);
        }
        stop = stop == null ? List.of() : List.copyOf(stop);
        for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
    }

    /**
     * Everything from the model's generation config.
     *
     * @return options with every field unset
     */
    public static GenerateOptions defaults() {
        return new GenerateOptions(null, null, null, null, null, null, null, List.of(), false, null);
    }

    /**
     * Greedy decoding (what benchmarks use).
     *
     * @return the defaults with temperature 0
     */
    public static GenerateOptions greedy() {
        return defaults().withTemperature(0);
    }

    /**
     * The upstream README's settings: sampling at temperature 0.2, top-k 50, up to 1024 new tokens.
     *
     * @return those options
     */
    public static GenerateOptions referenceSampling() {
        return defaults().withTemperature(0.2).withTopK(50).withMaxNewTokens(1024);
    }

    /**
     * A copy with another token budget.
     *
     * @param v tokens to generate at most (0: read the prompt only)
     * @return the new options
     */
    public GenerateOptions withMaxNewTokens(int v) {
        return new GenerateOptions(v, temperature, topK, topP, minP, repetitionPenalty, seed, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with another temperature.
     *
     * @param v 0 (greedy) or more
     * @return the new options
     */
    public GenerateOptions withTemperature(double v) {
        return new GenerateOptions(maxNewTokens, v, topK, topP, minP, repetitionPenalty, seed, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with another top-k filter.
     *
     * @param v tokens kept (0: off)
     * @return the new options
     */
    public GenerateOptions withTopK(int v) {
        return new GenerateOptions(maxNewTokens, temperature, v, topP, minP, repetitionPenalty, seed, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with another top-p (nucleus) filter.
     *
     * @param v probability mass kept, in (0, 1] (1: off)
     * @return the new options
     */
    public GenerateOptions withTopP(double v) {
        return new GenerateOptions(maxNewTokens, temperature, topK, v, minP, repetitionPenalty, seed, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with another min-p filter.
     *
     * @param v in [0, 1] (0: off)
     * @return the new options
     */
    public GenerateOptions withMinP(double v) {
        return new GenerateOptions(maxNewTokens, temperature, topK, topP, v, repetitionPenalty, seed, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with another repetition penalty.
     *
     * @param v more than 0 (1: off)
     * @return the new options
     */
    public GenerateOptions withRepetitionPenalty(double v) {
        return new GenerateOptions(maxNewTokens, temperature, topK, topP, minP, v, seed, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with a sampling seed, for reproducible answers.
     *
     * @param v the seed
     * @return the new options
     */
    public GenerateOptions withSeed(long v) {
        return new GenerateOptions(maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, v, stop, ignoreEos, cancellation);
    }

    /**
     * A copy with other stop strings.
     *
     * @param strings the answer stops before the first of these (non-empty) strings
     * @return the new options
     */
    public GenerateOptions withStop(String... strings) {
        return new GenerateOptions(maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, seed,
                Arrays.asList(strings), ignoreEos, cancellation);
    }

    /**
     * A copy that does or does not keep generating past the end-of-sequence token.
     *
     * @param v true: keep generating (benchmarks)
     * @return the new options
     */
    public GenerateOptions withIgnoreEos(boolean v) {
        return new GenerateOptions(maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, seed, stop, v, cancellation);
    }

    /**
     * A copy with a cancellation check.
     *
     * @param v polled between images, prompt chunks and tokens; returning true ends the answer (null: never)
     * @return the new options
     */
    public GenerateOptions withCancellation(BooleanSupplier v) {
        return new GenerateOptions(maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, seed, stop, ignoreEos, v);
    }
}
