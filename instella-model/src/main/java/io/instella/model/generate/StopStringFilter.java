package io.instella.model.generate;

import java.util.List;

/**
 * Turns the growing decoded completion into safe-to-show deltas: holds back a trailing incomplete UTF-8
 * character (decoded as U+FFFD) and any suffix that could be the start of a stop string; cuts the text at
 * the first stop string.
 */
final class StopStringFilter {
    record Step(String delta, boolean stopped) {}

    private final List<String> stops;
    private int emitted;
    private boolean stopped;
    private String finalText;
    private String lastFull = "";

    StopStringFilter(List<String> stops) {
        this.stops = stops;
    }

    Step accept(String full) {
        lastFull = full;
        int cut = firstStop(full);
        if (cut >= 0) {
            stopped = true;
            finalText = full.substring(0, cut);
            String delta = cut > emitted ? full.substring(emitted, cut) : "";
            emitted = Math.max(emitted, cut);
            return new Step(delta, true);
        }
        int safe = full.length();
        while (safe > emitted && full.charAt(safe - 1) == '\uFFFD') safe--;
        safe = Math.min(safe, full.length() - longestStopPrefixSuffix(full));
        if (safe <= emitted) return new Step("", false);
        String delta = full.substring(emitted, safe);
        emitted = safe;
        return new Step(delta, false);
    }

    /** The final text: cut at a stop string if one was seen. */
    String finish(String full) {
        if (stopped) return finalText;
        lastFull = full;
        return full;
    }

    /** Text not yet streamed when generation ended without a stop string (held-back prefix). */
    String pendingTail() {
        if (stopped) return "";
        String t = lastFull.length() > emitted ? lastFull.substring(emitted) : "";
        emitted = lastFull.length();
        return t;
    }

    private int firstStop(String full) {
        int best = -1;
        for (String s : stops) {
            int from = Math.max(0, emitted - s.length());
            int i = full.indexOf(s, from);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    private int longestStopPrefixSuffix(String full) {
        int best = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, full.length()); k > best; k--) {
                if (full.regionMatches(full.length() - k, s, 0, k)) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }
}
