package io.instella.spark.generate;

import io.instella.api.Image;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;

import java.io.FileNotFoundException;
import java.io.IOException;

/** Reads the image of one row from its cell: encoded bytes, a {bytes, path} struct, or a path on a Hadoop filesystem. */
final class ImageCells {
    /** The largest image file read from a path (the same cap as {@code instella generate}'s decoder): 256 MiB. */
    static final long MAX_FILE_BYTES = 256L << 20;

    private final RowPlan plan;
    private final HadoopConf conf;

    ImageCells(RowPlan plan, HadoopConf conf) {
        this.plan = plan;
        this.conf = conf;
    }

    /**
     * The row's image, or null for a text-only row (no image column, or a null cell).
     *
     * @throws RowException when the image cannot be read or decoded (the row becomes an error row)
     */
    Image read(Row row) {
        if (plan.image() < 0 || row.isNullAt(plan.image())) return null;
        return switch (plan.imageKind()) {
            case NONE -> null;
            case BINARY -> decode(row.getAs(plan.image()), "the image bytes in column '" + plan.imageName() + "'");
            case PATH -> readPath(row.getString(plan.image()));
            case STRUCT -> {
                Row s = row.getStruct(plan.image());
                String path = plan.pathField() >= 0 && !s.isNullAt(plan.pathField()) ? s.getString(plan.pathField()) : null;
                if (plan.bytesField() >= 0 && !s.isNullAt(plan.bytesField())) {
                    yield decode(s.getAs(plan.bytesField()), path != null && !path.isBlank() ? path
                            : "the image bytes in column '" + plan.imageName() + "'");
                }
                if (path == null || path.isBlank()) {
                    throw new RowException("the image in column '" + plan.imageName() + "' has neither bytes nor a path");
                }
                yield readPath(path);
            }
        };
    }

    private static Image decode(byte[] bytes, String name) {
        try {
            return Image.fromBytes(bytes, name);
        } catch (RuntimeException e) {
            throw RowException.of(e);
        }
    }

    private Image readPath(String location) {
        if (location.isBlank()) throw new RowException("the image path in column '" + plan.imageName() + "' is empty");
        Path path;
        try {
            path = new Path(location);
        } catch (IllegalArgumentException e) {
            throw new RowException("the image path '" + location + "' is not a valid path or URI: " + e.getMessage());
        }
        byte[] bytes;
        try {
            FileSystem fs = path.getFileSystem(conf.get());
            FileStatus status = fs.getFileStatus(path);
            if (status.isDirectory()) throw new RowException("the image path '" + location + "' is a directory, not an image file");
            if (status.getLen() > MAX_FILE_BYTES) {
                throw new RowException("the image file '" + location + "' is " + (status.getLen() >> 20) + " MiB; images over "
                        + (MAX_FILE_BYTES >> 20) + " MiB are not read");
            }
            bytes = new byte[(int) status.getLen()];
            try (FSDataInputStream in = fs.open(path)) {
                in.readFully(0, bytes);
            }
        } catch (FileNotFoundException e) {
            throw new RowException("image file not found: " + location);
        } catch (IOException e) {
            throw new RowException("cannot read the image file '" + location + "': " + e.getMessage());
        }
        return decode(bytes, location);
    }
}
