package io.instella.eval.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.sql.Array;
import java.sql.Blob;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A dataset split stored as parquet shards in Hugging Face's published form, read with DuckDB: image columns
 * ({@code STRUCT(bytes BLOB, path VARCHAR)}, or a list of them for {@code Sequence(Image)}) are kept apart from
 * the other fields, which become the JSON documents the tasks read (lmms-eval's {@code dataset_no_image}).
 * Rows are in shard order, then row order within a shard; a document's id is its 0-based position.
 */
public final class ParquetDataset implements AutoCloseable {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final List<Path> shards;
    private final Connection connection;
    private final List<String> fieldColumns = new ArrayList<>();
    private final Map<String, Boolean> imageColumns = new LinkedHashMap<>(); // name -> is a list of images

    public ParquetDataset(List<Path> shards) {
        if (shards.isEmpty()) throw new IllegalArgumentException("no parquet shards given");
        this.shards = List.copyOf(shards);
        try {
            Properties props = new Properties();
            props.setProperty("jdbc_stream_results", "true");
            this.connection = DriverManager.getConnection("jdbc:duckdb:", props);
            try (Statement s = connection.createStatement();
                 ResultSet r = s.executeQuery("DESCRIBE SELECT * FROM read_parquet(" + sqlString(shards.get(0)) + ")")) {
                while (r.next()) {
                    String name = r.getString("column_name");
                    String type = r.getString("column_type");
                    if (isImageType(type)) imageColumns.put(name, false);
                    else if (isImageListType(type)) imageColumns.put(name, true);
                    else fieldColumns.add(name);
                }
            }
        } catch (SQLException e) {
            throw new DatasetReadException("cannot read parquet " + shards.get(0) + ": " + e.getMessage(), e);
        }
    }

    static boolean isImageType(String type) {
        return type.startsWith("STRUCT(bytes BLOB, path ") && type.endsWith(")") && type.indexOf(',', 24) < 0;
    }

    static boolean isImageListType(String type) {
        return type.endsWith("[]") && isImageType(type.substring(0, type.length() - 2));
    }

    /** Names of the image columns (Image or Sequence(Image) features). */
    public List<String> imageColumns() {
        return List.copyOf(imageColumns.keySet());
    }

    /** Every row's non-image fields as JSON objects, in dataset order. */
    public List<ObjectNode> documents() {
        List<ObjectNode> docs = new ArrayList<>();
        StringBuilder struct = new StringBuilder("{");
        for (int i = 0; i < fieldColumns.size(); i++) {
            if (i > 0) struct.append(", ");
            struct.append(sqlString(fieldColumns.get(i))).append(": ").append(identifier(fieldColumns.get(i)));
        }
        struct.append('}');
        String select = fieldColumns.isEmpty() ? "'{}'" : "to_json(" + struct + ")";
        for (Path shard : shards) {
            String sql = "SELECT " + select + " FROM read_parquet(" + sqlString(shard) + ")";
            try (Statement s = connection.createStatement(); ResultSet r = s.executeQuery(sql)) {
                while (r.next()) {
                    JsonNode n = MAPPER.readTree(r.getString(1));
                    docs.add((ObjectNode) n);
                }
            } catch (SQLException | IOException e) {
                throw new DatasetReadException("cannot read " + shard + ": " + e.getMessage(), e);
            }
        }
        return docs;
    }

    /** Images of one row: per image column, the encoded image bytes (empty list for a null image). */
    public record RowImages(int docId, Map<String, List<byte[]>> byColumn) {
        /** The images of the given columns, in order (null images skipped, lists flattened). */
        public List<byte[]> select(List<String> columns) {
            List<byte[]> out = new ArrayList<>();
            for (String c : columns) {
                List<byte[]> v = byColumn.get(c);
                if (v == null) throw new DatasetReadException("row " + docId + " has no image column '" + c + "'");
                out.addAll(v);
            }
            return out;
        }
    }

    /** A forward-only reader of the rows' images, streamed shard by shard (images are not kept in memory). */
    public ImageCursor imageCursor() {
        return new ImageCursor();
    }

    public final class ImageCursor implements AutoCloseable {
        private int shardIndex = -1;
        private Statement statement;
        private ResultSet rows;
        private int nextDocId = 0;

        /** The images of {@code docId}; ids must not decrease between calls. */
        public RowImages imagesFor(int docId) {
            if (docId < nextDocId) {
                throw new IllegalStateException("image cursor is past document " + docId + " (at " + nextDocId + ")");
            }
            try {
                while (true) {
                    if (rows == null || !rows.next()) {
                        openNextShard();
                        continue;
                    }
                    int id = nextDocId++;
                    if (id == docId) return read(id);
                }
            } catch (SQLException e) {
                throw new DatasetReadException("cannot read images: " + e.getMessage(), e);
            }
        }

        private void openNextShard() throws SQLException {
            closeShard();
            shardIndex++;
            if (shardIndex >= shards.size()) throw new DatasetReadException("dataset has fewer rows than document " + nextDocId);
            if (imageColumns.isEmpty()) {
                statement = connection.createStatement();
                rows = statement.executeQuery("SELECT 1 FROM read_parquet(" + sqlString(shards.get(shardIndex)) + ")");
                return;
            }
            StringBuilder cols = new StringBuilder();
            for (Map.Entry<String, Boolean> e : imageColumns.entrySet()) {
                if (!cols.isEmpty()) cols.append(", ");
                String id = identifier(e.getKey());
                cols.append(e.getValue() ? "[x.bytes for x in " + id + "]" : id + ".bytes");
            }
            statement = connection.createStatement();
            rows = statement.executeQuery("SELECT " + cols + " FROM read_parquet(" + sqlString(shards.get(shardIndex)) + ")");
        }

        private RowImages read(int docId) throws SQLException {
            Map<String, List<byte[]>> out = new LinkedHashMap<>();
            int i = 1;
            for (Map.Entry<String, Boolean> e : imageColumns.entrySet()) {
                List<byte[]> images = new ArrayList<>();
                if (e.getValue()) {
                    Array arr = rows.getArray(i);
                    if (arr != null) {
                        for (Object o : (Object[]) arr.getArray()) if (o != null) images.add(bytes(o));
                    }
                } else {
                    Object o = rows.getObject(i);
                    if (o != null) images.add(bytes(o));
                }
                out.put(e.getKey(), images);
                i++;
            }
            return new RowImages(docId, out);
        }

        private void closeShard() throws SQLException {
            if (rows != null) rows.close();
            if (statement != null) statement.close();
            rows = null;
            statement = null;
        }

        @Override
        public void close() {
            try {
                closeShard();
            } catch (SQLException e) {
                throw new DatasetReadException("cannot close image reader: " + e.getMessage(), e);
            }
        }
    }

    /** All rows of {@code keyColumn} to the bytes of {@code imageColumn} (GQA's separate image config). */
    public Map<String, byte[]> imagesById(String keyColumn, String imageColumn) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (Path shard : shards) {
            String sql = "SELECT " + identifier(keyColumn) + ", " + identifier(imageColumn) + ".bytes FROM read_parquet(" + sqlString(shard) + ")";
            try (Statement s = connection.createStatement(); ResultSet r = s.executeQuery(sql)) {
                while (r.next()) {
                    Object img = r.getObject(2);
                    if (img != null) out.put(r.getString(1), bytes(img));
                }
            } catch (SQLException e) {
                throw new DatasetReadException("cannot read images of " + shard + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    private static byte[] bytes(Object o) throws SQLException {
        if (o instanceof byte[] b) return b;
        if (o instanceof Blob blob) return blob.getBytes(1, (int) blob.length());
        throw new DatasetReadException("unexpected image value of type " + o.getClass().getName());
    }

    private static String sqlString(Object s) {
        return "'" + s.toString().replace("'", "''") + "'";
    }

    private static String identifier(String s) {
        return "\"" + s.replace("\"", "\"\"") + "\"";
    }

    @Override
    public void close() {
        try {
            connection.close();
        } catch (SQLException e) {
            throw new DatasetReadException("cannot close DuckDB connection: " + e.getMessage(), e);
        }
    }

    /** A parquet file that cannot be read as expected. */
    public static final class DatasetReadException extends RuntimeException {
        public DatasetReadException(String message) {
            super(message);
        }

        public DatasetReadException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
