package io.instella.train.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.instella.model.tokenizer.Tokenizer;

/**
 * Upstream's text preprocessing for the {@code instella} conversation version ({@code train.py}
 * {@code preprocess_multimodal} and {@code preprocess_instella}, {@code mm_utils.tokenizer_image_token},
 * {@code conversation.conv_instella}); golden README steps 1-4, spec §7.3-7.4. Stateless apart from the
 * tokenizer; thread-safe.
 */
public final class InstellaPreprocessor {
    public static final String IMAGE_TOKEN = "<image>";
    public static final int IMAGE_TOKEN_INDEX = -200;
    public static final int IGNORE_INDEX = -100;
    /** The sequence prefix and the end of every assistant turn ({@code sep2} without its newline). */
    public static final String EOS_TEXT = "|||IP_ADDRESS|||";
    static final String USER = "<|user|>\n";
    static final String ASSISTANT = "<|assistant|>\n";
    static final String SEP = "\n";
    static final String SEP2 = "|||IP_ADDRESS|||\n";

    private final Tokenizer tokenizer;
    private final int padTokenId;

    public InstellaPreprocessor(Tokenizer tokenizer, int padTokenId) {
        this.tokenizer = tokenizer;
        this.padTokenId = padTokenId;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * {@code preprocess_multimodal}: a message holding exactly one {@code <image>} that is not at its start gets it
     * moved to the front ({@code "<image>\n" + rest.strip()}); "QA_GT_caption_based_noisy" is removed from every
     * message (upstream's clean-up of one data set).
     */
    public static List<LlavaRecord.Message> preprocessMultimodal(List<LlavaRecord.Message> messages) {
        List<LlavaRecord.Message> out = new ArrayList<>(messages.size());
        for (LlavaRecord.Message m : messages) {
            String v = m.value();
            if (count(v, IMAGE_TOKEN) == 1 && !v.startsWith(IMAGE_TOKEN)) {
                v = pythonStrip(v.replace(IMAGE_TOKEN, ""));
                v = pythonStrip(IMAGE_TOKEN + "\n" + v);
            }
            v = v.replace("QA_GT_caption_based_noisy", "");
            out.add(new LlavaRecord.Message(m.from(), v));
        }
        return out;
    }

    /** Why a conversation cannot be formatted (unknown role, roles out of order, nothing left). */
    public static final class ConversationException extends Exception {
        private final DataReport.Reason reason;

        ConversationException(DataReport.Reason reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }

        public DataReport.Reason reason() {
            return reason;
        }
    }

    /**
     * The {@code instella} prompt: {@code "|||IP_ADDRESS|||"}, then per message {@code role + text + sep}, where
     * human turns use {@code "<|user|>\n"} and {@code "\n"}, assistant turns {@code "<|assistant|>\n"}, the
     * {@code strip()}-ped text and {@code "|||IP_ADDRESS|||\n"}; an empty message adds its role only. A first
     * message not from "human" is dropped; roles must then alternate human, gpt, human, ...
     */
    public static String conversation(List<LlavaRecord.Message> messages) throws ConversationException {
        if (messages.isEmpty()) {
            throw new ConversationException(DataReport.Reason.EMPTY_CONVERSATION, "\"conversations\" is empty");
        }
        for (int i = 0; i < messages.size(); i++) {
            String from = messages.get(i).from();
            if (!from.equals("human") && !from.equals("gpt")) {
                throw new ConversationException(DataReport.Reason.BAD_ROLE, "message " + (i + 1) + " is from '"
                        + from + "'; only \"human\" and \"gpt\" are allowed");
            }
        }
        List<LlavaRecord.Message> source = messages;
        if (!source.get(0).from().equals("human")) source = source.subList(1, source.size());
        if (source.isEmpty()) {
            throw new ConversationException(DataReport.Reason.EMPTY_CONVERSATION,
                    "the conversation holds only a \"gpt\" message (a first message not from \"human\" is dropped)");
        }
        StringBuilder sb = new StringBuilder(EOS_TEXT);
        for (int j = 0; j < source.size(); j++) {
            LlavaRecord.Message m = source.get(j);
            boolean assistant = j % 2 == 1;
            if (m.from().equals("gpt") != assistant) {
                throw new ConversationException(DataReport.Reason.BAD_ROLE, "message " + (j + 1 + messages.size()
                        - source.size()) + " is from '" + m.from() + "' but a \"" + (assistant ? "gpt" : "human")
                        + "\" message must come there (roles must alternate, starting with \"human\")");
            }
            String role = assistant ? ASSISTANT : USER;
            String text = m.value();
            if (text.isEmpty()) {
                sb.append(role);
                continue;
            }
            if (assistant) text = pythonStrip(text);
            sb.append(role).append(text).append(assistant ? SEP2 : SEP);
        }
        return sb.toString();
    }

    /**
     * {@code tokenizer_image_token}: the text split at {@code <image>}, each chunk encoded on its own (no BOS/EOS),
     * joined with {@link #IMAGE_TOKEN_INDEX}.
     */
    public int[] tokenizeWithImages(String prompt) {
        List<String> chunks = pythonSplit(prompt, IMAGE_TOKEN);
        int[][] encoded = new int[chunks.size()][];
        int total = chunks.size() - 1;
        for (int i = 0; i < chunks.size(); i++) {
            encoded[i] = tokenizer.encode(chunks.get(i));
            total += encoded[i].length;
        }
        int[] out = new int[total];
        int pos = 0;
        for (int i = 0; i < encoded.length; i++) {
            if (i > 0) out[pos++] = IMAGE_TOKEN_INDEX;
            System.arraycopy(encoded[i], 0, out, pos, encoded[i].length);
            pos += encoded[i].length;
        }
        return out;
    }

    /** The ids of a prompt: {@link #tokenizeWithImages} for a record with an image, the plain encoding otherwise. */
    public int[] tokenize(String prompt, boolean hasImage) {
        return hasImage ? tokenizeWithImages(prompt) : tokenizer.encode(prompt);
    }

    /**
     * {@code preprocess_instella}'s label masking (spec §7.4): a copy of the ids where, per round of the prompt
     * (split at {@code "|||IP_ADDRESS|||\n"}), the instruction part up to and including {@code "\n<|assistant|>\n"}
     * is set to -100, lengths from separate tokenisation of each round; everything after the last round is -100;
     * and if the counted length is below {@code modelMaxLength} but differs from the number of non-pad ids (a
     * "tokenization mismatch") every label becomes -100.
     *
     * @param ids the prompt's ids (for a text-only record, already truncated to modelMaxLength as upstream's
     *            tokenizer call does)
     */
    public int[] labels(String prompt, int[] ids, boolean hasImage, int modelMaxLength) {
        int[] targets = ids.clone();
        String sepAssistant = SEP + ASSISTANT;
        long cur = 0;
        for (String round : pythonSplit(prompt, SEP2)) {
            if (round.isEmpty()) break;
            List<String> parts = pythonSplit(round, sepAssistant);
            if (parts.size() != 2) break;
            String instruction = parts.get(0) + sepAssistant;
            int roundLen = tokenize(round + SEP2, hasImage).length;
            int instructionLen = tokenize(instruction, hasImage).length;
            fill(targets, cur, cur + instructionLen);
            cur += roundLen;
        }
        fill(targets, cur, targets.length);
        if (cur < modelMaxLength) {
            long total = 0;
            for (int id : ids) if (id != padTokenId) total++;
            if (cur != total) Arrays.fill(targets, IGNORE_INDEX);
        }
        return targets;
    }

    private static void fill(int[] a, long from, long to) {
        int f = (int) Math.min(from, a.length);
        int t = (int) Math.min(to, a.length);
        if (f < t) Arrays.fill(a, f, t, IGNORE_INDEX);
    }

    static int count(String s, String needle) {
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + needle.length())) n++;
        return n;
    }

    /** Python's {@code str.split(sep)}: keeps empty pieces at both ends. */
    static List<String> pythonSplit(String s, String sep) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = s.indexOf(sep); i >= 0; i = s.indexOf(sep, start)) {
            out.add(s.substring(start, i));
            start = i + sep.length();
        }
        out.add(s.substring(start));
        return out;
    }

    /** Python's {@code str.strip()}: removes leading and trailing characters that Python's isspace() accepts. */
    static String pythonStrip(String s) {
        int begin = 0;
        int end = s.length();
        while (begin < end && isPythonSpace(s.codePointAt(begin))) begin += Character.charCount(s.codePointAt(begin));
        while (end > begin && isPythonSpace(s.codePointBefore(end))) end -= Character.charCount(s.codePointBefore(end));
        return s.substring(begin, end);
    }

    /** Python's {@code isspace}: general category Zs, or bidirectional class WS, B or S. */
    static boolean isPythonSpace(int cp) {
        if (Character.getType(cp) == Character.SPACE_SEPARATOR) return true;
        byte d = Character.getDirectionality(cp);
        return d == Character.DIRECTIONALITY_WHITESPACE || d == Character.DIRECTIONALITY_PARAGRAPH_SEPARATOR
                || d == Character.DIRECTIONALITY_SEGMENT_SEPARATOR;
    }
}
