package io.instella.train.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A {@code .json} file holding an array of LLaVA records, or a {@code .jsonl} file with one record per line.
 * Opening it only indexes where each record's bytes are (16 bytes per record); a record is parsed when it is read.
 * A malformed line of a jsonl file is a skip of that record; a json array that is not valid JSON cannot be split
 * into records and stops the run with a {@link DataException}. Blank lines of a jsonl file are ignored.
 */
final class JsonRecordFile implements RecordSource {
    /** Strict as Python's json.loads about what follows the value: "{...} x" is malformed, not "{...}". */
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path file;
    private final Path imageFolder;
    private final boolean lines;
    private final FileChannel channel;
    private long[] offsets = new long[1024];
    private int[] lengths = new int[1024];
    private int[] lineNumbers; // jsonl only: 1-based line of each record
    private int size;

    private JsonRecordFile(Path file, Path imageFolder, boolean lines) {
        this.file = file;
        this.imageFolder = imageFolder;
        this.lines = lines;
        if (lines) lineNumbers = new int[1024];
        try {
            this.channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": data file not found");
        } catch (IOException e) {
            throw new DataException(file + ": cannot open the data file (" + e.getMessage() + ")");
        }
    }

    /**
     * Indexes {@code file}: a {@code .jsonl} file line by line, anything else as a JSON array.
     *
     * @param imageFolder where the records' relative image paths are resolved (may be null: relative to the
     *                    current directory)
     */
    static JsonRecordFile open(Path file, Path imageFolder) {
        boolean jsonl = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".jsonl");
        JsonRecordFile f = new JsonRecordFile(file, imageFolder, jsonl);
        try {
            if (jsonl) f.indexLines();
            else f.indexArray();
        } catch (IOException e) {
            f.close();
            throw new DataException(file + ": cannot read the data file (" + e.getMessage() + ")");
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
        return f;
    }

    private void add(long offset, long length, int line) {
        if (length > Integer.MAX_VALUE - 16) {
            throw new DataException(location(size, line) + ": a record of " + length + " bytes is too large");
        }
        if (size == offsets.length) {
            offsets = Arrays.copyOf(offsets, size * 2);
            lengths = Arrays.copyOf(lengths, size * 2);
            if (lineNumbers != null) lineNumbers = Arrays.copyOf(lineNumbers, size * 2);
        }
        offsets[size] = offset;
        lengths[size] = (int) length;
        if (lineNumbers != null) lineNumbers[size] = line;
        size++;
    }

    private void indexLines() throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            long pos = 0;
            long start = 0;
            boolean blank = true;
            int line = 1;
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                for (int i = 0; i < n; i++, pos++) {
                    byte b = buf[i];
                    if (b == '\n') {
                        if (!blank) add(start, pos - start, line);
                        line++;
                        start = pos + 1;
                        blank = true;
                    } else if (b != ' ' && b != '\t' && b != '\r') {
                        blank = false;
                    }
                }
            }
            if (!blank) add(start, pos - start, line);
        }
    }

    private void indexArray() throws IOException {
        JsonFactory factory = JSON.getFactory();
        try (JsonParser p = factory.createParser(Files.newInputStream(file))) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_ARRAY) {
                throw new DataException(file + ": expected a JSON array of records ([{...}, ...])"
                        + (t == null ? ", the file is empty" : ", found " + describe(t))
                        + "; a file with one record per line must be named .jsonl");
            }
            while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                if (t == null) throw new DataException(file + ": the JSON array is not closed (truncated file?)");
                long begin = p.currentTokenLocation().getByteOffset();
                p.skipChildren();
                long end = p.currentLocation().getByteOffset();
                add(begin, end - begin, 0);
            }
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr();
            throw new DataException(file + ": not valid JSON" + where + " (" + e.getOriginalMessage() + "); "
                    + "the records of a .json array cannot be read one by one, fix the file or convert it to .jsonl");
        }
    }

    private static String describe(JsonToken t) {
        return switch (t) {
            case START_OBJECT -> "a single object";
            case VALUE_STRING -> "a string";
            default -> t.asString() == null ? t.name().toLowerCase(java.util.Locale.ROOT) : "'" + t.asString() + "'";
        };
    }

    @Override
    public String name() {
        return file.toString();
    }

    @Override
    public int size() {
        return size;
    }

    String location(int index, int line) {
        return lines ? file + ":" + line : file + "#" + index;
    }

    @Override
    public LlavaRecord read(int index) throws RecordSkipped {
        String location = location(index, lines ? lineNumbers[index] : 0);
        byte[] bytes = new byte[lengths[index]];
        try {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            long pos = offsets[index];
            while (buf.hasRemaining()) {
                int n = channel.read(buf, pos + buf.position());
                if (n < 0) throw new IOException("the file got shorter while training");
            }
        } catch (IOException e) {
            throw new RecordSkipped(location, null, DataReport.Reason.BAD_RECORD, "cannot read the record: " + e.getMessage());
        }
        JsonNode node;
        try {
            node = JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            // Jackson's message may quote where a bracket opened as "[Source: REDACTED (...); line: 1, column: 35]".
            String why = e.getOriginalMessage().replaceAll("\\[Source: [^;\\]]*; ", "[");
            throw new RecordSkipped(location, null, DataReport.Reason.MALFORMED_JSON, "not valid JSON (" + why + ")");
        } catch (IOException e) {
            throw new RecordSkipped(location, null, DataReport.Reason.MALFORMED_JSON, "not valid JSON (" + e.getMessage() + ")");
        }
        return RecordParser.parse(node, location, index, imageFolder);
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing was written; closing a read channel cannot lose data
        }
    }

    /** Turns a parsed JSON value into a record, checking its shape. */
    static final class RecordParser {
        private RecordParser() {}

        static LlavaRecord parse(JsonNode node, String location, int index, Path imageFolder) throws RecordSkipped {
            if (node == null || !node.isObject()) {
                throw new RecordSkipped(location, null, DataReport.Reason.BAD_RECORD,
                        "a record must be a JSON object with \"conversations\", found " + kind(node));
            }
            JsonNode idNode = node.get("id");
            String id;
            if (idNode == null || idNode.isNull()) id = Integer.toString(index);
            else if (idNode.isTextual() || idNode.isNumber()) id = idNode.asText();
            else throw new RecordSkipped(location, null, DataReport.Reason.BAD_RECORD,
                        "\"id\" must be a string or a number, found " + kind(idNode));

            List<LlavaRecord.ImageRef> images = new ArrayList<>();
            JsonNode image = node.get("image");
            boolean hasImage = image != null && !image.isNull();
            if (hasImage) {
                if (image.isTextual()) {
                    images.add(fileImage(image.textValue(), imageFolder, location, id));
                } else if (image.isArray()) {
                    if (image.isEmpty()) {
                        throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD,
                                "\"image\" is an empty list (remove the field for a text-only record)");
                    }
                    for (JsonNode i : image) {
                        if (!i.isTextual()) {
                            throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD,
                                    "\"image\" list holds " + kind(i) + "; expected file paths");
                        }
                        images.add(fileImage(i.textValue(), imageFolder, location, id));
                    }
                } else {
                    throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD,
                            "\"image\" must be a path or a list of paths, found " + kind(image));
                }
            }
            return new LlavaRecord(location, id, images, hasImage, conversations(node, location, id));
        }

        static List<LlavaRecord.Message> conversations(JsonNode node, String location, String id) throws RecordSkipped {
            JsonNode conv = node.get("conversations");
            if (conv == null || conv.isNull()) {
                throw new RecordSkipped(location, id, DataReport.Reason.EMPTY_CONVERSATION, "has no \"conversations\"");
            }
            if (!conv.isArray()) {
                throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD,
                        "\"conversations\" must be a list of {\"from\", \"value\"} messages, found " + kind(conv));
            }
            if (conv.isEmpty()) {
                throw new RecordSkipped(location, id, DataReport.Reason.EMPTY_CONVERSATION, "\"conversations\" is empty");
            }
            List<LlavaRecord.Message> messages = new ArrayList<>(conv.size());
            int i = 0;
            for (JsonNode m : conv) {
                i++;
                if (!m.isObject() || !m.path("from").isTextual() || !m.path("value").isTextual()) {
                    throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD, "message " + i
                            + " must be an object with string fields \"from\" and \"value\", found " + abbreviate(m));
                }
                messages.add(new LlavaRecord.Message(m.get("from").textValue(), m.get("value").textValue()));
            }
            return messages;
        }

        static LlavaRecord.FileImage fileImage(String relative, Path folder, String location, String id) throws RecordSkipped {
            if (relative.isEmpty()) {
                throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD, "\"image\" is an empty path");
            }
            Path p;
            try {
                p = folder == null ? Path.of(relative) : folder.resolve(relative);
            } catch (java.nio.file.InvalidPathException e) {
                throw new RecordSkipped(location, id, DataReport.Reason.BAD_RECORD, "\"image\" '" + relative
                        + "' is not a valid path");
            }
            return new LlavaRecord.FileImage(p, relative);
        }

        static String kind(JsonNode n) {
            if (n == null || n.isNull()) return "null";
            if (n.isObject()) return "an object";
            if (n.isArray()) return "a list";
            if (n.isTextual()) return "a string";
            if (n.isNumber()) return "a number";
            if (n.isBoolean()) return "a boolean";
            return n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
        }

        static String abbreviate(JsonNode n) {
            String s = n.toString();
            return s.length() > 80 ? s.substring(0, 77) + "..." : s;
        }
    }
}
