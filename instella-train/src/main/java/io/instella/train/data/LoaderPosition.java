package io.instella.train.data;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where the loader is: the next batch is batch {@code batchIndex} of epoch {@code epoch}, and it starts at record
 * {@code nextRecord} of that epoch's order (skipped records make the two differ). Saved in a checkpoint; a loader
 * started here yields exactly the batches that were still to come.
 */
public record LoaderPosition(int epoch, long batchIndex, long nextRecord) {
    public static final LoaderPosition START = new LoaderPosition(0, 0, 0);

    public LoaderPosition {
        if (epoch < 0 || batchIndex < 0 || nextRecord < 0) {
            throw new IllegalArgumentException("a data position cannot be negative: " + epoch + "/" + batchIndex + "/" + nextRecord);
        }
    }

    /** {@code {"epoch", "batch_index", "next_record"}}, for the checkpoint's JSON. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", epoch);
        m.put("batch_index", batchIndex);
        m.put("next_record", nextRecord);
        return m;
    }

    /** Reads {@link #toMap()}'s form. */
    public static LoaderPosition fromMap(Map<String, ?> m) {
        try {
            return new LoaderPosition(((Number) m.get("epoch")).intValue(), ((Number) m.get("batch_index")).longValue(),
                    ((Number) m.get("next_record")).longValue());
        } catch (RuntimeException e) {
            throw new DataException("the checkpoint's data position " + m + " is not {epoch, batch_index, next_record}");
        }
    }
}
