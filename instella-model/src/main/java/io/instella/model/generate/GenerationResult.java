package io.instella.model.generate;

import java.util.List;

/**
 * A finished generation. Timings are wall-clock milliseconds: vision (preprocessing + tower + projector),
 * prefill (prompt through the language model) and decode (the rest).
 */
public record GenerationResult(int promptTokens, int[] completionIds, String text, FinishReason finishReason,
                               List<TokenLogprob> logprobs, double visionMillis, double prefillMillis,
                               double decodeMillis, float[] promptFinalHidden, float[] promptLastLogits) {

    public double prefillTokensPerSecond() { return prefillMillis <= 0 ? 0 : promptTokens * 1000.0 / prefillMillis; }

    /** Decode speed counts the tokens after the first (the first comes out of the prefill). */
    public double decodeTokensPerSecond() {
        return decodeMillis <= 0 || completionIds.length < 2 ? 0 : (completionIds.length - 1) * 1000.0 / decodeMillis;
    }
}
