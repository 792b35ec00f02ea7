package io.instella.train.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Counts the records that were skipped, by reason, and keeps the first few of each reason with where they are
 * (file and line or index, id). Thread-safe. {@link #summary()} is one log line; {@link #toMap()} is the JSON form
 * kept in {@code trainer_state.json} and read back by {@link #restore(Map)} when a run resumes.
 */
public final class DataReport {
    /** The kinds of problems, as short stable keys (the JSON keys of {@link #toMap()}). */
    public enum Reason {
        MALFORMED_JSON("malformed JSON"),
        BAD_RECORD("unusable record"),
        EMPTY_CONVERSATION("empty conversation"),
        BAD_ROLE("unknown or out-of-order role"),
        IMAGE_PLACEHOLDERS("images and <image> placeholders do not match"),
        MISSING_IMAGE("missing image file"),
        BAD_IMAGE("undecodable image"),
        IMAGE_IN_TEXT_ONLY_RUN("image record in a text-only run"),
        TOO_LONG("longer than model_max_length"),
        NO_TRAINED_TOKENS("no trained tokens");

        private final String words;

        Reason(String words) { this.words = words; }

        public String words() { return words; }

        public String key() { return name().toLowerCase(java.util.Locale.ROOT); }
    }

    /** One skipped record: where ("file:line" or "file#index"), its id, why, in plain words. */
    public record Skip(String location, String id, Reason reason, String message) {
        /** The line printed for it (and the message of a strict-mode failure). */
        public String describe() {
            return location + (id == null ? "" : " (id " + id + ")") + ": " + message;
        }
    }

    /** How many examples per reason are kept. */
    public static final int EXAMPLES_PER_REASON = 5;

    private final Map<Reason, Long> counts = new TreeMap<>();
    private final Map<Reason, List<Skip>> examples = new TreeMap<>();
    private final java.util.Set<String> seen = new java.util.HashSet<>();  // locations counted so far
    private long used;
    private volatile java.util.function.Consumer<Skip> listener = skip -> {};

    /** Called for every skipped record as it is counted (e.g. to print its line); runs on a loader thread. */
    public void onSkip(java.util.function.Consumer<Skip> listener) {
        this.listener = listener == null ? skip -> {} : listener;
    }

    /**
     * Counts a skipped record, once: a bad record met again (the next epoch, an up-sampled dataset) is neither
     * counted nor reported again, so the counts and lines are of records, not of visits.
     */
    public void skipped(Skip skip) {
        synchronized (this) {
            if (!seen.add(skip.location())) return;
            record(skip);
        }
        listener.accept(skip);
    }

    private void record(Skip skip) {
        counts.merge(skip.reason(), 1L, Long::sum);
        List<Skip> list = examples.computeIfAbsent(skip.reason(), r -> new ArrayList<>());
        if (list.size() < EXAMPLES_PER_REASON) list.add(skip);
    }

    /** Counts a record that became a training example. */
    public synchronized void used() {
        used++;
    }

    public synchronized long usedCount() { return used; }

    public synchronized long skippedCount() {
        long n = 0;
        for (long c : counts.values()) n += c;
        return n;
    }

    public synchronized long count(Reason reason) {
        return counts.getOrDefault(reason, 0L);
    }

    public synchronized List<Skip> examples(Reason reason) {
        return List.copyOf(examples.getOrDefault(reason, List.of()));
    }

    /**
     * One line: "data: 12345 records used, 3 skipped (2 missing image file, 1 malformed JSON); first: a.jsonl:17
     * (id x): ..." — or "data: N records used, none skipped".
     */
    public synchronized String summary() {
        StringBuilder sb = new StringBuilder("data: ").append(used).append(" records used, ");
        long skipped = skippedCount();
        if (skipped == 0) return sb.append("none skipped").toString();
        sb.append(skipped).append(" skipped (");
        boolean first = true;
        for (var e : counts.entrySet()) {
            if (!first) sb.append(", ");
            first = false;
            sb.append(e.getValue()).append(' ').append(e.getKey().words());
        }
        sb.append(")");
        for (var e : examples.entrySet()) {
            if (!e.getValue().isEmpty()) {
                sb.append("; e.g. ").append(e.getValue().get(0).describe());
            }
        }
        return sb.toString();
    }

    /**
     * {@code {"used": n, "skipped": n, "skipped_by_reason": {key: n}, "examples": {key: [{"location", "id",
     * "message"}]}}} — plain maps, lists, strings and numbers, for Jackson.
     */
    public synchronized Map<String, Object> toMap() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("used", used);
        out.put("skipped", skippedCount());
        Map<String, Object> byReason = new LinkedHashMap<>();
        for (var e : counts.entrySet()) byReason.put(e.getKey().key(), e.getValue());
        out.put("skipped_by_reason", byReason);
        Map<String, Object> ex = new LinkedHashMap<>();
        for (var e : examples.entrySet()) {
            List<Map<String, Object>> list = new ArrayList<>();
            for (Skip s : e.getValue()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("location", s.location());
                m.put("id", s.id());
                m.put("message", s.message());
                list.add(m);
            }
            ex.put(e.getKey().key(), list);
        }
        out.put("examples", ex);
        return out;
    }

    /** A report continuing the counts of {@link #toMap()} (from a checkpoint's trainer_state.json). */
    @SuppressWarnings("unchecked")
    public static DataReport restore(Map<String, Object> map) {
        DataReport r = new DataReport();
        if (map == null) return r;
        if (map.get("used") instanceof Number n) r.used = n.longValue();
        if (map.get("skipped_by_reason") instanceof Map<?, ?> byReason) {
            for (var e : byReason.entrySet()) {
                Reason reason = reasonOf(String.valueOf(e.getKey()));
                if (reason != null && e.getValue() instanceof Number n) r.counts.put(reason, n.longValue());
            }
        }
        if (map.get("examples") instanceof Map<?, ?> ex) {
            for (var e : ex.entrySet()) {
                Reason reason = reasonOf(String.valueOf(e.getKey()));
                if (reason == null || !(e.getValue() instanceof List<?> list)) continue;
                List<Skip> kept = new ArrayList<>();
                for (Object o : list) {
                    if (o instanceof Map<?, ?> m && kept.size() < EXAMPLES_PER_REASON) {
                        Object id = m.get("id");
                        kept.add(new Skip(String.valueOf(m.get("location")), id == null ? null : String.valueOf(id),
                                reason, String.valueOf(m.get("message"))));
                        r.seen.add(String.valueOf(m.get("location")));
                    }
                }
                r.examples.put(reason, kept);
            }
        }
        return r;
    }

    private static Reason reasonOf(String key) {
        for (Reason r : Reason.values()) if (r.key().equals(key)) return r;
        return null;
    }
}
