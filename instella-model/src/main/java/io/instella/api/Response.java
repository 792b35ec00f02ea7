package io.instella.api;

/**
 * One answer.
 *
 * @param text         the answer, without the end-of-sequence token and cut before a stop string
 * @param tokenIds     the generated token ids (the end-of-sequence token is not included)
 * @param finishReason why the answer ended
 * @param stats        sizes and timings
 */
public record Response(String text, int[] tokenIds, FinishReason finishReason, Stats stats) {

    /**
     * Sizes and timings of one answer.
     *
     * @param promptTokens       positions of the whole prompt (text tokens plus image tokens)
     * @param reusedPromptTokens positions whose keys and values were kept from the previous answer of the same
     *                           conversation and not computed again
     * @param imageTokens        positions taken by images
     * @param imagesEncoded      images encoded for this answer (images seen in earlier turns are reused)
     * @param visionMillis       time encoding those images
     * @param prefillMillis      time running the new prompt positions through the language model
     * @param decodeMillis       time generating the answer after the first token
     * @param generatedTokens    tokens generated
     */
    public record Stats(int promptTokens, int reusedPromptTokens, int imageTokens, int imagesEncoded,
                        double visionMillis, double prefillMillis, double decodeMillis, int generatedTokens) {

        /**
         * Prompt positions computed per second (the reused ones excluded).
         *
         * @return the prompt speed; 0 when nothing was timed
         */
        public double promptTokensPerSecond() {
            return prefillMillis <= 0 ? 0 : (promptTokens - reusedPromptTokens) * 1000.0 / prefillMillis;
        }

        /**
         * Generated tokens per second, after the first (which comes out of the prompt pass).
         *
         * @return the generation speed; 0 with fewer than 2 tokens
         */
        public double generationTokensPerSecond() {
            return decodeMillis <= 0 || generatedTokens < 2 ? 0 : (generatedTokens - 1) * 1000.0 / decodeMillis;
        }
    }
}
