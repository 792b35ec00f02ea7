package io.instella.train.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Array;
import java.sql.Blob;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.instella.eval.data.ParquetDataset;

/**
 * LLaVA records in parquet (a Hugging Face dataset: a {@code conversations} column of {from, value} structs, an
 * optional {@code id}, and an image column of HF's Image type ({@code STRUCT(bytes BLOB, path VARCHAR)}) or a list
 * of them). A file or a folder of {@code .parquet} shards (in name order). Read with DuckDB one row at a time:
 * opening counts the rows only; the image column is found with the eval module's {@link ParquetDataset}. Each
 * read is one DuckDB query on a connection of its own (reads run in parallel on the loader's threads); DuckDB
 * reads the row's whole row group, about 80 ms per row on a 190 MB shard of 20,000 images in 100-row groups
 * (measured on the 2-core development machine), small next to a CPU training step.
 */
final class ParquetRecordSource implements RecordSource {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final List<Path> shards;
    private final long[] firstRow; // cumulative row counts: shard s holds rows [firstRow[s], firstRow[s + 1])
    private final Connection connection;
    /** Idle connections for row reads: each loader thread borrows one, so reads run in parallel. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Connection> idle = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.List<Connection> opened = java.util.Collections.synchronizedList(new ArrayList<>());
    private volatile boolean closed;
    private final String select;
    private final boolean imageList;
    private final boolean hasImageColumn;

    private ParquetRecordSource(Path path, List<Path> shards) {
        this.path = path;
        this.shards = shards;
        List<String> imageColumns;
        try (ParquetDataset probe = new ParquetDataset(shards)) {
            imageColumns = probe.imageColumns();
        } catch (RuntimeException e) {
            throw new DataException(path + ": cannot read parquet (" + e.getMessage() + ")");
        }
        try {
            connection = DriverManager.getConnection("jdbc:duckdb:");
            List<String> columns = new ArrayList<>();
            try (Statement s = connection.createStatement();
                 ResultSet r = s.executeQuery("DESCRIBE SELECT * FROM read_parquet(" + sql(shards.get(0)) + ")")) {
                while (r.next()) columns.add(r.getString("column_name"));
            }
            if (!columns.contains("conversations")) {
                throw new DataException(path + ": parquet has no 'conversations' column (columns: " + columns + ")");
            }
            String image = imageColumns.contains("image") ? "image" : imageColumns.contains("images") ? "images"
                    : imageColumns.isEmpty() ? null : imageColumns.get(0);
            hasImageColumn = image != null;
            boolean list = false;
            String imageExpr = "NULL";
            if (image != null) {
                try (Statement s = connection.createStatement();
                     ResultSet r = s.executeQuery("SELECT typeof(" + id(image) + ") FROM read_parquet("
                             + sql(shards.get(0)) + ") LIMIT 1")) {
                    list = r.next() && r.getString(1).endsWith("[]");
                }
                imageExpr = list ? "[x.bytes for x in " + id(image) + "]" : id(image) + ".bytes";
            }
            imageList = list;
            select = "SELECT " + (columns.contains("id") ? "CAST(\"id\" AS VARCHAR)" : "NULL") + ", to_json(\"conversations\"), "
                    + imageExpr + " FROM read_parquet(?, file_row_number = true) WHERE file_row_number = ?";
            firstRow = new long[shards.size() + 1];
            for (int i = 0; i < shards.size(); i++) {
                try (Statement s = connection.createStatement();
                     ResultSet r = s.executeQuery("SELECT count(*) FROM read_parquet(" + sql(shards.get(i)) + ")")) {
                    r.next();
                    firstRow[i + 1] = firstRow[i] + r.getLong(1);
                }
            }
            if (firstRow[shards.size()] > Integer.MAX_VALUE) {
                throw new DataException(path + ": more than 2^31 rows are not supported");
            }
        } catch (SQLException e) {
            throw new DataException(path + ": cannot read parquet (" + e.getMessage() + ")");
        }
    }

    static ParquetRecordSource open(Path path) {
        List<Path> shards;
        if (Files.isDirectory(path)) {
            try (Stream<Path> s = Files.list(path)) {
                shards = s.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
            } catch (IOException e) {
                throw new DataException(path + ": cannot list the folder (" + e.getMessage() + ")");
            }
            if (shards.isEmpty()) throw new DataException(path + ": folder holds no .parquet files");
        } else if (Files.isRegularFile(path)) {
            shards = List.of(path);
        } else {
            throw new DataException(path + ": data file not found");
        }
        return new ParquetRecordSource(path, shards);
    }

    @Override
    public String name() {
        return path.toString();
    }

    @Override
    public int size() {
        return (int) firstRow[shards.size()];
    }

    @Override
    public LlavaRecord read(int index) throws RecordSkipped {
        int shard = 0;
        while (firstRow[shard + 1] <= index) shard++;
        long row = index - firstRow[shard];
        String location = shards.get(shard) + "#" + row;
        String id;
        String conversations;
        List<byte[]> images = new ArrayList<>();
        Connection c = null;
        try {
            c = borrow();
            try (PreparedStatement s = c.prepareStatement(select)) {
                s.setString(1, shards.get(shard).toString());
                s.setLong(2, row);
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) throw new RecordSkipped(location, null, DataReport.Reason.BAD_RECORD, "row not found");
                    id = r.getString(1);
                    conversations = r.getString(2);
                    if (imageList) {
                        Array arr = r.getArray(3);
                        if (arr != null) for (Object o : (Object[]) arr.getArray()) if (o != null) images.add(bytes(o));
                    } else if (hasImageColumn) {
                        Object o = r.getObject(3);
                        if (o != null) images.add(bytes(o));
                    }
                }
            }
        } catch (SQLException e) {
            throw new RecordSkipped(location, null, DataReport.Reason.BAD_RECORD, "cannot read the row: " + e.getMessage());
        } finally {
            if (c != null) idle.add(c);
        }
        if (id == null) id = Long.toString(row);
        JsonNode conv;
        try {
            conv = JSON.readTree("{\"conversations\":" + (conversations == null ? "null" : conversations) + "}");
        } catch (IOException e) {
            throw new RecordSkipped(location, id, DataReport.Reason.MALFORMED_JSON, "conversations are not readable");
        }
        List<LlavaRecord.Message> messages = JsonRecordFile.RecordParser.conversations(conv, location, id);
        List<LlavaRecord.ImageRef> refs = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            refs.add(new LlavaRecord.BytesImage(images.get(i), location + (images.size() > 1 ? " image " + (i + 1) : " image")));
        }
        return new LlavaRecord(location, id, refs, !refs.isEmpty(), messages);
    }

    private Connection borrow() throws SQLException {
        if (closed) throw new SQLException("the data file is closed");
        Connection c = idle.poll();
        if (c != null) return c;
        c = DriverManager.getConnection("jdbc:duckdb:");
        opened.add(c);
        return c;
    }

    private static byte[] bytes(Object o) throws SQLException {
        if (o instanceof byte[] b) return b;
        if (o instanceof Blob blob) return blob.getBytes(1, (int) blob.length());
        throw new SQLException("unexpected image value " + o.getClass().getSimpleName());
    }

    private static String sql(Object s) {
        return "'" + s.toString().replace("'", "''") + "'";
    }

    private static String id(String s) {
        return "\"" + s.replace("\"", "\"\"") + "\"";
    }

    @Override
    public void close() {
        closed = true;
        List<Connection> all = new ArrayList<>(opened);
        all.add(connection);
        for (Connection c : all) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // read-only in-memory database: nothing to lose
            }
        }
    }
}
