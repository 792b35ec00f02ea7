package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyJson;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The append-only per-task log that makes a run resumable: a header line describing the run (task, model,
 * generation settings), then one line per finished document with its raw response. Each line is written and
 * forced to disk before the next document starts, so a crash or Ctrl-C loses at most the document in flight;
 * a torn last line (a crash mid-write) is dropped when the journal is reopened.
 */
public final class Journal implements AutoCloseable {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** One finished document. */
    public record Entry(int docId, String promptHash, String response) {}

    private final Path file;
    private final FileChannel channel;
    private final Map<Integer, Entry> entries;

    private Journal(Path file, FileChannel channel, Map<Integer, Entry> entries) {
        this.file = file;
        this.channel = channel;
        this.entries = entries;
    }

    /** Opens (or creates) the journal; an existing one must have been written for the same {@code header}. */
    public static Journal open(Path file, ObjectNode header) {
        try {
            Files.createDirectories(file.getParent());
            Map<Integer, Entry> entries = new LinkedHashMap<>();
            if (Files.exists(file) && Files.size(file) > 0) {
                byte[] bytes = Files.readAllBytes(file);
                int end = bytes.length;
                while (end > 0 && bytes[end - 1] != '\n') end--; // drop a torn last line
                String text = new String(bytes, 0, end, StandardCharsets.UTF_8);
                String[] lines = text.isEmpty() ? new String[0] : text.split("\n");
                if (lines.length == 0) {
                    Files.write(file, new byte[0]);
                } else {
                    JsonNode existing = MAPPER.readTree(lines[0]);
                    if (!existing.equals(header)) {
                        throw new IllegalStateException("the journal " + file + " belongs to another run ("
                                + lines[0] + "; this run: " + PyJson.dumps(header)
                                + "). Use another --output directory, or delete the journal to start over.");
                    }
                    for (int i = 1; i < lines.length; i++) {
                        JsonNode e = MAPPER.readTree(lines[i]);
                        Entry entry = new Entry(e.get("doc_id").intValue(), e.get("prompt_hash").textValue(), e.get("response").textValue());
                        entries.put(entry.docId(), entry);
                    }
                    if (end < bytes.length) {
                        try (FileChannel trunc = FileChannel.open(file, StandardOpenOption.WRITE)) {
                            trunc.truncate(end);
                        }
                    }
                }
            }
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
            Journal j = new Journal(file, channel, entries);
            if (channel.size() == 0) j.writeLine(header);
            return j;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open journal " + file, e);
        }
    }

    /** Finished documents by id. */
    public Map<Integer, Entry> entries() {
        return Map.copyOf(entries);
    }

    /** Records a finished document durably. */
    public void append(int docId, String promptHash, String response) {
        ObjectNode line = JsonNodeFactory.instance.objectNode();
        line.put("doc_id", docId);
        line.put("prompt_hash", promptHash);
        line.put("response", response);
        writeLine(line);
        entries.put(docId, new Entry(docId, promptHash, response));
    }

    private void writeLine(JsonNode node) {
        byte[] bytes = (PyJson.dumps(node) + "\n").getBytes(StandardCharsets.UTF_8);
        try {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) channel.write(buf);
            channel.force(false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write journal " + file, e);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close journal " + file, e);
        }
    }
}
