package io.instella.spark.generate;

import io.instella.spark.GenerationJobOptions;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.io.Serial;
import java.io.Serializable;
import java.util.Arrays;

/**
 * Where each input of a row is, worked out once on the driver from the input schema and the options (so a wrong
 * column name fails at once, before any executor starts work).
 *
 * @param fields      number of input columns (copied through to the output)
 * @param id          index of the id column, -1 without one
 * @param idName      its name (for messages)
 * @param prompt      index of the prompt column, -1 when one fixed prompt is used
 * @param promptName  its name (for messages)
 * @param image       index of the image column, -1 for text-only rows
 * @param imageName   its name (for messages)
 * @param imageKind   how the image column holds the image
 * @param bytesField  for a struct image column: index of its {@code bytes} field, -1 without one
 * @param pathField   for a struct image column: index of its {@code path} field, -1 without one
 * @param seed        index of the seed column, -1 without one
 * @param seedIsLong  whether the seed column is a long (else an int)
 * @param corrupt     index of Spark's {@code _corrupt_record} column (JSON lines that did not parse), -1 without one
 */
public record RowPlan(int fields, int id, String idName, int prompt, String promptName, int image, String imageName,
                      ImageKind imageKind, int bytesField, int pathField, int seed, boolean seedIsLong, int corrupt)
        implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** How an image column holds its image. */
    public enum ImageKind {
        /** No image column. */
        NONE,
        /** The encoded file's bytes (JPEG, PNG, ...), e.g. Spark's binaryFile {@code content}. */
        BINARY,
        /** A struct {bytes, path}: Hugging Face datasets' Image feature; bytes win, else the path is read. */
        STRUCT,
        /** A path or URI on any Hadoop filesystem (file:, hdfs:, s3a:, ...). */
        PATH
    }

    /** The column where Spark's JSON reader puts a line it cannot parse (its default name). */
    public static final String CORRUPT_RECORD = "_corrupt_record";

    public static RowPlan of(StructType schema, GenerationJobOptions o) {
        String[] names = schema.fieldNames();
        int corrupt = Arrays.asList(names).indexOf(CORRUPT_RECORD);
        if (corrupt >= 0 && !(schema.fields()[corrupt].dataType() instanceof StringType)) corrupt = -1;
        int id = o.idColumn() != null ? required(schema, o.idColumn(), "id") : firstPresent(schema, "id", "path");
        int prompt = -1;
        if (o.prompt() == null) {
            prompt = indexOf(schema, o.promptColumn());
            if (prompt < 0) {
                if (corrupt >= 0 && names.length == 1) {
                    throw new IllegalArgumentException("no line of the input is a JSON object (Spark read them all as corrupt records); "
                            + "the input must be JSON lines: one {\"id\": ..., \"prompt\": ...} object per line");
                }
                throw new IllegalArgumentException("the input has no prompt column '" + o.promptColumn() + "' (columns: "
                        + String.join(", ", names) + "); name the column holding the questions, or give one prompt for every row");
            }
            requireType(schema.fields()[prompt], StringType.class, "prompt", "a string");
        }
        int image = o.imageColumn() != null ? required(schema, o.imageColumn(), "image") : firstPresent(schema, "image", "content");
        ImageKind kind = ImageKind.NONE;
        int bytes = -1, path = -1;
        if (image >= 0) {
            StructField f = schema.fields()[image];
            DataType t = f.dataType();
            if (t instanceof BinaryType) {
                kind = ImageKind.BINARY;
            } else if (t instanceof StringType) {
                kind = ImageKind.PATH;
            } else if (t instanceof StructType st) {
                kind = ImageKind.STRUCT;
                bytes = indexOf(st, "bytes");
                path = indexOf(st, "path");
                if (bytes >= 0 && !(st.fields()[bytes].dataType() instanceof BinaryType)) bytes = -1;
                if (path >= 0 && !(st.fields()[path].dataType() instanceof StringType)) path = -1;
                if (bytes < 0 && path < 0) {
                    throw new IllegalArgumentException("the image column '" + f.name() + "' is a struct without a binary 'bytes' or a string 'path' field ("
                            + t.simpleString() + "); the Hugging Face datasets Image feature is struct<bytes: binary, path: string>");
                }
            } else {
                throw new IllegalArgumentException("the image column '" + f.name() + "' is " + t.simpleString()
                        + "; it must hold encoded image bytes (binary), a struct<bytes, path> (Hugging Face datasets) or a file path (string)");
            }
        }
        int seed = -1;
        boolean seedIsLong = false;
        if (o.seedColumn() != null) {
            seed = required(schema, o.seedColumn(), "seed");
            DataType t = schema.fields()[seed].dataType();
            if (t instanceof LongType) seedIsLong = true;
            else if (!(t instanceof IntegerType)) {
                throw new IllegalArgumentException("the seed column '" + o.seedColumn() + "' is " + t.simpleString() + "; it must be a whole number (int or bigint)");
            }
        }
        return new RowPlan(names.length, id, id >= 0 ? names[id] : null, prompt, prompt >= 0 ? names[prompt] : null,
                image, image >= 0 ? names[image] : null, kind, bytes, path, seed, seedIsLong, corrupt);
    }

    private static int required(StructType schema, String name, String what) {
        int i = indexOf(schema, name);
        if (i < 0) {
            throw new IllegalArgumentException("the input has no " + what + " column '" + name + "' (columns: "
                    + String.join(", ", schema.fieldNames()) + ")");
        }
        return i;
    }

    private static int firstPresent(StructType schema, String... candidates) {
        for (String c : candidates) {
            int i = indexOf(schema, c);
            if (i >= 0) return i;
        }
        return -1;
    }

    /** Spark's column names are case-insensitive by default; an exact match wins. */
    private static int indexOf(StructType schema, String name) {
        String[] names = schema.fieldNames();
        int exact = Arrays.asList(names).indexOf(name);
        if (exact >= 0) return exact;
        for (int i = 0; i < names.length; i++) if (names[i].equalsIgnoreCase(name)) return i;
        return -1;
    }

    private static void requireType(StructField f, Class<? extends DataType> type, String what, String expected) {
        if (!type.isInstance(f.dataType())) {
            throw new IllegalArgumentException("the " + what + " column '" + f.name() + "' is " + f.dataType().simpleString() + "; it must be " + expected);
        }
    }
}
