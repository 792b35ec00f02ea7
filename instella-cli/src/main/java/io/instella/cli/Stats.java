package io.instella.cli;

import io.instella.api.Response;

import java.util.Locale;

/** The timing lines printed on stderr after an answer, as llama.cpp prints them. */
final class Stats {
    private Stats() {}

    /** One line for {@code instella run}: load time, then {@link #turn}. */
    static String full(double loadMillis, Response r) {
        return String.format(Locale.ROOT, "load %.2f s | ", loadMillis / 1000) + turn(r);
    }

    /** Vision, prompt and generation speeds of one answer, and why it ended (printed after each chat answer). */
    static String turn(Response r) {
        Response.Stats s = r.stats();
        StringBuilder sb = new StringBuilder();
        if (s.imagesEncoded() > 0) {
            sb.append(String.format(Locale.ROOT, "vision %.2f s (%d image%s) | ", s.visionMillis() / 1000,
                    s.imagesEncoded(), s.imagesEncoded() == 1 ? "" : "s"));
        }
        int computed = s.promptTokens() - s.reusedPromptTokens();
        sb.append(String.format(Locale.ROOT, "prompt %d tokens", s.promptTokens()));
        if (s.imageTokens() > 0) sb.append(String.format(Locale.ROOT, " (%d image)", s.imageTokens()));
        if (s.reusedPromptTokens() > 0) sb.append(String.format(Locale.ROOT, ", %d reused", s.reusedPromptTokens()));
        sb.append(String.format(Locale.ROOT, ": %d in %.2f s, %.1f tok/s | generation %d tokens in %.2f s, %.1f tok/s | %s",
                computed, s.prefillMillis() / 1000, s.promptTokensPerSecond(), s.generatedTokens(),
                s.decodeMillis() / 1000, s.generationTokensPerSecond(), r.finishReason().name().toLowerCase(Locale.ROOT)));
        return sb.toString();
    }
}
