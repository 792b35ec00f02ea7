package io.instella.model.generate;

import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Decoding settings. {@code temperature == 0} means greedy. Filters apply in transformers' order:
 * repetition/frequency/presence penalties, then temperature, top-k, top-p, min-p.
 *
 * @param maxNewTokens      tokens to generate at most
 * @param temperature       0 = greedy
 * @param topK              0 = off
 * @param topP              1 = off
 * @param minP              0 = off
 * @param repetitionPenalty 1 = off (HF semantics: divide positive logits, multiply negative ones)
 * @param frequencyPenalty  0 = off (OpenAI semantics, over generated tokens)
 * @param presencePenalty   0 = off (OpenAI semantics, over generated tokens)
 * @param seed              null = random
 * @param stopStrings       generation stops before the first occurrence of any of these
 * @param ignoreEos         keep going past the end-of-sequence token
 * @param logprobs          record the chosen token's log-probability
 * @param topLogprobs       and this many alternatives per step
 * @param cancelled         polled between steps; true stops generation with finish reason "cancelled"
 */
public record GenerationOptions(int maxNewTokens, double temperature, int topK, double topP, double minP,
                                double repetitionPenalty, double frequencyPenalty, double presencePenalty,
                                Long seed, List<String> stopStrings, boolean ignoreEos, boolean logprobs,
                                int topLogprobs, BooleanSupplier cancelled) {

    public GenerationOptions {
        if (maxNewTokens < 0) throw new IllegalArgumentException("max_new_tokens must be >= 0, got " + maxNewTokens);
        if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP <= 1)) throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        if (!(repetitionPenalty > 0)) throw new IllegalArgumentException("repetition_penalty must be > 0, got " + repetitionPenalty);
        if (topLogprobs < 0 || topLogprobs > 20) throw new IllegalArgumentException("top_logprobs must be in [0, 20], got " + topLogprobs);
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        for (String s : stopStrings) if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        if (cancelled == null) cancelled = () -> false;
    }

    public static Builder builder() { return new Builder(); }

    public static GenerationOptions greedy(int maxNewTokens) { return builder().maxNewTokens(maxNewTokens).build(); }

    public boolean greedy() { return temperature == 0; }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.maxNewTokens = maxNewTokens; b.temperature = temperature; b.topK = topK; b.topP = topP; b.minP = minP;
        b.repetitionPenalty = repetitionPenalty; b.frequencyPenalty = frequencyPenalty; b.presencePenalty = presencePenalty;
        b.seed = seed; b.stopStrings = stopStrings; b.ignoreEos = ignoreEos; b.logprobs = logprobs;
        b.topLogprobs = topLogprobs; b.cancelled = cancelled;
        return b;
    }

    public static final class Builder {
        private int maxNewTokens = 256;
        private double temperature = 0;
        private int topK = 0;
        private double topP = 1;
        private double minP = 0;
        private double repetitionPenalty = 1;
        private double frequencyPenalty = 0;
        private double presencePenalty = 0;
        private Long seed;
        private List<String> stopStrings = List.of();
        private boolean ignoreEos;
        private boolean logprobs;
        private int topLogprobs;
        private BooleanSupplier cancelled;

        public Builder maxNewTokens(int v) { maxNewTokens = v; return this; }
        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder minP(double v) { minP = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        public Builder logprobs(boolean v) { logprobs = v; return this; }
        public Builder topLogprobs(int v) { topLogprobs = v; return this; }
        public Builder cancelled(BooleanSupplier v) { cancelled = v; return this; }

        public GenerationOptions build() {
            return new GenerationOptions(maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, frequencyPenalty,
                    presencePenalty, seed, stopStrings, ignoreEos, logprobs, topLogprobs, cancelled);
        }
    }
}
