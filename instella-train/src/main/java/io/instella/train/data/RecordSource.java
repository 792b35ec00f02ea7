package io.instella.train.data;

/** A data file's records, read one at a time on demand (thread-safe): nothing but an index is kept in memory. */
interface RecordSource extends AutoCloseable {
    /** The file, as named in messages. */
    String name();

    /** How many records it holds. */
    int size();

    /** Record {@code index} (0-based); a record that cannot be read is reported as a skip. */
    LlavaRecord read(int index) throws RecordSkipped;

    @Override
    default void close() {}
}
