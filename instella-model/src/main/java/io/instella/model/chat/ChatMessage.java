package io.instella.model.chat;

import java.util.Locale;
import java.util.Objects;

/** One turn of a conversation. {@code images} is how many images are attached to this turn. */
public record ChatMessage(Role role, String content, int images) {

    public enum Role {
        SYSTEM, USER, ASSISTANT;

        public static Role parse(String s) {
            if (s == null) throw new IllegalArgumentException("message has no role");
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "system", "developer" -> SYSTEM;
                case "user", "human" -> USER;
                case "assistant", "gpt" -> ASSISTANT;
                default -> throw new IllegalArgumentException("unknown role '" + s + "' (expected user, assistant or system)");
            };
        }
    }

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        if (images < 0) throw new IllegalArgumentException("images < 0");
    }

    public static ChatMessage user(String text) { return new ChatMessage(Role.USER, text, 0); }

    public static ChatMessage user(String text, int images) { return new ChatMessage(Role.USER, text, images); }

    public static ChatMessage assistant(String text) { return new ChatMessage(Role.ASSISTANT, text, 0); }

    public static ChatMessage system(String text) { return new ChatMessage(Role.SYSTEM, text, 0); }
}
