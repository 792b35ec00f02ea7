package io.instella.core.util;

/**
 * Keeps error messages readable when they quote what a file or request said: a value can be a megabyte long
 * (a hostile header, a fuzzed JSON string), and echoing it whole floods a terminal, a log line or an HTTP answer.
 */
public final class UserMessages {
    /** Longest run of non-space characters kept whole; longer runs keep their start and say how long they were. */
    static final int LONGEST_WORD = 200;
    /** Characters kept from an over-long run. */
    static final int KEPT = 80;
    /** Longest whole message. */
    static final int LONGEST_MESSAGE = 2000;

    private UserMessages() {}

    /** The message with every over-long word cut to its start plus "… (N characters)", and the whole capped. */
    public static String abbreviate(String message) {
        if (message == null || message.length() <= LONGEST_WORD) return message;
        StringBuilder out = new StringBuilder(Math.min(message.length(), LONGEST_MESSAGE + 64));
        int i = 0, n = message.length();
        while (i < n) {
            int start = i;
            if (Character.isWhitespace(message.charAt(i))) {
                while (i < n && Character.isWhitespace(message.charAt(i))) i++;
                out.append(message, start, Math.min(i, start + 8));
                continue;
            }
            while (i < n && !Character.isWhitespace(message.charAt(i))) i++;
            int length = i - start;
            if (length <= LONGEST_WORD) {
                out.append(message, start, i);
            } else {
                int end = start + KEPT;
                if (Character.isHighSurrogate(message.charAt(end - 1))) end--;
                out.append(message, start, end).append("… (").append(length).append(" characters)");
            }
            if (out.length() > LONGEST_MESSAGE) {
                out.setLength(LONGEST_MESSAGE);
                return out.append("… (message cut, ").append(n).append(" characters)").toString();
            }
        }
        return out.toString();
    }
}
