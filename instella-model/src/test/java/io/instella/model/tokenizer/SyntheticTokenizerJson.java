package io.instella.model.tokenizer;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * Builds small byte-level BPE {@code tokenizer.json} files for tests: the 256 byte-level characters as ids
 * 0..255 (minus any left out), then extra tokens, merges and added tokens as asked.
 */
final class SyntheticTokenizerJson {
    static final JsonMapper MAPPER = new JsonMapper();

    final ObjectNode root = MAPPER.createObjectNode();
    final ObjectNode model;
    final ObjectNode vocab;
    final ArrayNode merges;
    final ArrayNode addedTokens;
    private int nextId;

    SyntheticTokenizerJson() {
        this(Set.of());
    }

    /** @param leftOut byte-level characters to leave out of the vocabulary */
    SyntheticTokenizerJson(Set<Character> leftOut) {
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        addedTokens = root.putArray("added_tokens");
        root.putObject("normalizer").put("type", "NFC");
        root.set("pre_tokenizer", byteLevel(false, true));
        root.set("post_processor", byteLevel(false, true));
        root.set("decoder", byteLevel(false, true));
        model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        vocab = model.putObject("vocab");
        merges = model.putArray("merges");
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.byteToChar(b);
            if (!leftOut.contains(c)) {
                vocab.put(String.valueOf(c), nextId++);
            }
        }
    }

    static ObjectNode byteLevel(boolean addPrefixSpace, boolean useRegex) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("type", "ByteLevel");
        node.put("add_prefix_space", addPrefixSpace);
        node.put("trim_offsets", true);
        node.put("use_regex", useRegex);
        return node;
    }

    /** Id of a byte-level character (ASCII printable characters stand for themselves). */
    int id(String token) {
        return vocab.get(token).asInt();
    }

    SyntheticTokenizerJson token(String... tokens) {
        for (String t : tokens) {
            vocab.put(t, nextId++);
        }
        return this;
    }

    SyntheticTokenizerJson merge(String... legacyMerges) {
        for (String m : legacyMerges) {
            merges.add(m);
        }
        return this;
    }

    /** Adds an added token with the id HF would give it. */
    SyntheticTokenizerJson added(String content, boolean singleWord, boolean lstrip, boolean rstrip,
            boolean normalized, boolean special) {
        int id = vocab.has(content) ? vocab.get(content).asInt() : nextId++;
        ObjectNode t = addedTokens.addObject();
        t.put("id", id);
        t.put("content", content);
        t.put("single_word", singleWord);
        t.put("lstrip", lstrip);
        t.put("rstrip", rstrip);
        t.put("normalized", normalized);
        t.put("special", special);
        return this;
    }

    Path write(Path file) {
        try {
            Files.writeString(file, MAPPER.writeValueAsString(root));
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Tokenizer load(Path dir, String name) {
        return Tokenizer.load(write(dir.resolve(name)));
    }
}
