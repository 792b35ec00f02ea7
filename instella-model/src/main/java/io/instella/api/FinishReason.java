package io.instella.api;

/** Why an answer ended. */
public enum FinishReason {
    /** The model ended its answer (end-of-sequence token) or a stop string was produced. */
    STOP,
    /** The token budget ({@link GenerateOptions#maxNewTokens()}) was used up. */
    LENGTH,
    /** The {@link GenerateOptions#cancellation()} check returned true. */
    CANCELLED
}
