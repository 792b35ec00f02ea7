package io.instella.model.chat;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@code instella} conversation template (InstellaVL {@code conversation.py}, {@code SeparatorStyle.INSTELLA};
 * spec §6.1): the prompt starts with {@code |||IP_ADDRESS|||}; a user turn is {@code <|user|>\n + text + \n};
 * an assistant turn is {@code <|assistant|>\n + text.strip() + |||IP_ADDRESS|||\n}; an open assistant turn
 * (generation prompt) is {@code <|assistant|>\n}.
 *
 * <p>Images: a user turn with k attached images whose text has no {@code <image>} placeholder becomes
 * {@code "<image>\n" + text.strip()} (k placeholders joined by spaces, as the lmms-eval wrapper does for
 * several images). The reference template has no system slot (its {@code system} is ""), so a system
 * message is prepended to the first user turn's text, followed by a blank line.
 */
public final class ChatTemplate {
    public static final String IMAGE_PLACEHOLDER = "<image>";
    public static final String EOS_TEXT = "|||IP_ADDRESS|||";
    static final String USER = "<|user|>\n";
    static final String ASSISTANT = "<|assistant|>\n";
    static final String SEP = "\n";
    static final String SEP2 = EOS_TEXT + "\n";

    private ChatTemplate() {}

    /** Renders messages; with {@code addGenerationPrompt} the prompt ends with an open assistant turn. */
    public static String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<ChatMessage> turns = foldSystem(messages);
        StringBuilder sb = new StringBuilder(EOS_TEXT);
        for (int i = 0; i < turns.size(); i++) {
            ChatMessage m = turns.get(i);
            if (m.role() == ChatMessage.Role.USER) {
                sb.append(USER).append(withImages(m)).append(SEP);
            } else {
                sb.append(ASSISTANT).append(m.content().strip()).append(SEP2);
            }
        }
        if (addGenerationPrompt) sb.append(ASSISTANT);
        return sb.toString();
    }

    /** Prompt for one question about {@code images} images (the common case). */
    public static String single(String question, int images) {
        return render(List.of(ChatMessage.user(question, images)), true);
    }

    private static String withImages(ChatMessage m) {
        String text = m.content();
        if (m.images() == 0) return text;
        int present = count(text, IMAGE_PLACEHOLDER);
        if (present == m.images()) return text;
        if (present != 0) {
            throw new IllegalArgumentException("a message has " + m.images() + " image(s) attached but " + present
                    + " <image> placeholder(s) in its text; use one placeholder per image, or none");
        }
        return String.join(" ", java.util.Collections.nCopies(m.images(), IMAGE_PLACEHOLDER)) + "\n" + text.strip();
    }

    private static List<ChatMessage> foldSystem(List<ChatMessage> messages) {
        StringBuilder system = new StringBuilder();
        List<ChatMessage> out = new ArrayList<>();
        for (ChatMessage m : messages) {
            if (m.role() == ChatMessage.Role.SYSTEM) {
                if (!out.isEmpty()) throw new IllegalArgumentException("a system message must come before the conversation's first turn");
                if (!system.isEmpty()) system.append("\n");
                system.append(m.content());
                continue;
            }
            if (out.isEmpty() && m.role() != ChatMessage.Role.USER) {
                throw new IllegalArgumentException("the conversation must start with a user message");
            }
            if (!out.isEmpty() && out.getLast().role() == m.role()) {
                throw new IllegalArgumentException("user and assistant messages must alternate (two " + m.role().name().toLowerCase() + " messages in a row)");
            }
            if (out.isEmpty() && !system.isEmpty()) {
                m = new ChatMessage(m.role(), system + "\n\n" + m.content(), m.images());
            }
            out.add(m);
        }
        if (out.isEmpty()) throw new IllegalArgumentException("the conversation has no user message");
        return out;
    }

    static int count(String s, String sub) {
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
        return n;
    }
}
