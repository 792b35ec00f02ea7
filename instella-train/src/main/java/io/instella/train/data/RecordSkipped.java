package io.instella.train.data;

/** A record that cannot be used: carries the skip (where, id, reason, message in plain words). */
public final class RecordSkipped extends Exception {
    private final DataReport.Skip skip;

    RecordSkipped(DataReport.Skip skip) {
        super(skip.describe(), null, false, false);
        this.skip = skip;
    }

    RecordSkipped(String location, String id, DataReport.Reason reason, String message) {
        this(new DataReport.Skip(location, id, reason, message));
    }

    public DataReport.Skip skip() {
        return skip;
    }
}
