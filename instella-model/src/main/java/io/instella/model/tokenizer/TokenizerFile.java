package io.instella.model.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and checks a Hugging Face {@code tokenizer.json}. Accepted: {@code version} "1.0", a BPE model, an NFC
 * or absent normaliser, the ByteLevel pre-tokeniser and decoder, a ByteLevel or absent post-processor, no
 * truncation or padding. Everything else is refused with a {@link TokenizerException} naming the file and the
 * problem, rather than tokenising differently from HF.
 */
final class TokenizerFile {
    final Map<String, Integer> vocab = new HashMap<>();
    /** The vocab inverted (ids are checked to be unique). */
    final Map<Integer, String> vocabTokenOfId = new HashMap<>();
    PairMap merges;
    boolean ignoreMerges;
    String continuingSubwordPrefix;
    String endOfWordSuffix;
    boolean byteFallback;
    int unkId = -1;
    boolean fuseUnk;
    boolean nfc;
    boolean addPrefixSpace;
    boolean useRegex = true;
    final List<AddedToken> addedTokens = new ArrayList<>();

    private final Path path;
    /** The largest tokenizer.json files in use are tens of MB. */
    static final long MAX_FILE_BYTES = 512L << 20;

    private TokenizerFile(Path path) {
        this.path = path;
    }

    /** Ids must be below this: the model's vocab_size, or {@link Tokenizer#MAX_IDS} for a tokenizer on its own. */
    private int idLimit = Tokenizer.MAX_IDS;

    static TokenizerFile read(Path path) {
        return read(path, Tokenizer.MAX_IDS);
    }

    static TokenizerFile read(Path path, int idLimit) {
        TokenizerFile file = new TokenizerFile(path);
        file.idLimit = Math.min(idLimit, Tokenizer.MAX_IDS);
        file.parse(readTree(path));
        return file;
    }

    /** Why an id is refused ("" when it is fine): negative, not an integer, or at/above the id limit. */
    private String badId(JsonNode idNode) {
        if (!idNode.isIntegralNumber()) return "expected a non-negative integer";
        if (idNode.isBigInteger() ? idNode.bigIntegerValue().signum() < 0 : idNode.longValue() < 0) {
            return "expected a non-negative integer";
        }
        if (!idNode.canConvertToInt() || idNode.intValue() >= idLimit) {
            return idLimit == Tokenizer.MAX_IDS
                    ? "above the largest supported id " + (Tokenizer.MAX_IDS - 1)
                    : "not below the model's vocab_size " + idLimit + " (config.json)";
        }
        return "";
    }

    private TokenizerException error(String problem) {
        return new TokenizerException("tokenizer file " + path + ": " + problem);
    }

    private static JsonNode readTree(Path path) {
        byte[] bytes;
        try {
            // Checked before reading: a FIFO would block, a device would never end.
            if (Files.exists(path) && !Files.isRegularFile(path)) {
                throw new TokenizerException("tokenizer file " + path + " is not a regular file (expected a Hugging Face tokenizer.json)");
            }
            long size = Files.size(path);
            if (size > MAX_FILE_BYTES) {
                throw new TokenizerException("tokenizer file " + path + " is " + size + " bytes, more than the " + MAX_FILE_BYTES
                        + " a tokenizer.json may have");
            }
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            throw new TokenizerException("tokenizer file not found: " + path
                    + " (expected a Hugging Face tokenizer.json)");
        } catch (IOException e) {
            throw new TokenizerException("cannot read tokenizer file " + path + ": " + plain(e), e);
        }
        JsonMapper mapper = JsonMapper.builder()
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .build();
        try {
            JsonNode root = mapper.readTree(bytes);
            if (root == null || root.isMissingNode()) {
                throw new TokenizerException("tokenizer file " + path + " is empty (expected a JSON object)");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new TokenizerException("tokenizer file " + path + " is not valid JSON: "
                    + e.getOriginalMessage() + locationOf(e), e);
        } catch (IOException e) {
            // Not JSON's syntax but its text: bytes that are no UTF-8/16/32 (Jackson's CharConversionException).
            throw new TokenizerException("tokenizer file " + path + " is not valid JSON text (" + plain(e) + ")", e);
        }
    }

    /** An I/O failure in words: its message's first line, never the exception's class name. */
    private static String plain(IOException e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? "read error" : m.lines().findFirst().orElse("read error");
    }

    private static String locationOf(JsonProcessingException e) {
        var loc = e.getLocation();
        return loc == null ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
    }

    private void parse(JsonNode root) {
        if (!root.isObject()) {
            throw error("the top level is a JSON " + kind(root) + ", expected an object");
        }
        JsonNode version = root.get("version");
        if (version != null && !(version.isTextual() && version.asText().equals("1.0"))) {
            throw error("unknown tokenizer version " + version + " (only \"1.0\" is supported)");
        }
        requireNullOrAbsent(root, "truncation");
        requireNullOrAbsent(root, "padding");
        parseNormalizer(root.get("normalizer"));
        parsePreTokenizer(root.get("pre_tokenizer"));
        requireByteLevel(root.get("decoder"), "decoder", false);
        requireByteLevel(root.get("post_processor"), "post_processor", true);
        JsonNode model = root.get("model");
        if (model == null || model.isNull()) {
            throw error("no \"model\" section");
        }
        if (!model.isObject()) {
            throw error("\"model\" is a JSON " + kind(model) + ", expected an object");
        }
        parseModel(model);
        parseAddedTokens(root.get("added_tokens"));
    }

    private void requireNullOrAbsent(JsonNode root, String field) {
        JsonNode node = root.get(field);
        if (node != null && !node.isNull()) {
            throw error("\"" + field + "\" is set; truncation/padding settings are not supported (they change the"
                    + " token ids): set it to null");
        }
    }

    private void parseNormalizer(JsonNode node) {
        if (node == null || node.isNull()) {
            nfc = false;
            return;
        }
        String type = typeOf(node, "normalizer");
        if (!type.equals("NFC")) {
            throw error("unsupported normalizer type \"" + type + "\" (supported: NFC or none)");
        }
        nfc = true;
    }

    private void parsePreTokenizer(JsonNode node) {
        if (node == null || node.isNull()) {
            throw error("no \"pre_tokenizer\"; only the ByteLevel pre-tokenizer is supported");
        }
        String type = typeOf(node, "pre_tokenizer");
        if (!type.equals("ByteLevel")) {
            throw error("unsupported pre_tokenizer type \"" + type + "\" (only ByteLevel is supported)");
        }
        addPrefixSpace = flag(node, "add_prefix_space", true, "pre_tokenizer");
        useRegex = flag(node, "use_regex", true, "pre_tokenizer");
    }

    private void requireByteLevel(JsonNode node, String field, boolean nullAllowed) {
        if (node == null || node.isNull()) {
            if (nullAllowed) {
                return;
            }
            throw error("no \"" + field + "\"; only the ByteLevel " + field + " is supported");
        }
        String type = typeOf(node, field);
        if (!type.equals("ByteLevel")) {
            throw error("unsupported " + field + " type \"" + type + "\" (only ByteLevel"
                    + (nullAllowed ? " or none" : "") + " is supported)");
        }
    }

    private String typeOf(JsonNode node, String where) {
        if (!node.isObject()) {
            throw error("\"" + where + "\" is a JSON " + kind(node) + ", expected an object with a \"type\"");
        }
        JsonNode type = node.get("type");
        if (type == null || !type.isTextual()) {
            throw error("\"" + where + "\" has no \"type\" string");
        }
        return type.asText();
    }

    private boolean flag(JsonNode node, String field, boolean defaultValue, String where) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            return defaultValue;
        }
        if (!value.isBoolean()) {
            throw error("\"" + where + "." + field + "\" is " + value + ", expected true or false");
        }
        return value.asBoolean();
    }

    private String optionalString(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isTextual()) {
            throw error("\"model." + field + "\" is " + value + ", expected a string or null");
        }
        return value.asText();
    }

    private void parseModel(JsonNode model) {
        JsonNode type = model.get("type");
        if (type != null && !(type.isTextual() && type.asText().equals("BPE"))) {
            throw error("unsupported model type " + type + " (only BPE is supported)");
        }
        JsonNode dropout = model.get("dropout");
        if (dropout != null && !dropout.isNull()) {
            if (!dropout.isNumber() || dropout.asDouble() < 0 || dropout.asDouble() > 1) {
                throw error("\"model.dropout\" is " + dropout + ", expected null or a number in [0, 1]");
            }
            if (dropout.asDouble() != 0.0) {
                throw error("\"model.dropout\" is " + dropout + "; BPE dropout makes encoding random and is not"
                        + " supported (set it to null)");
            }
        }
        continuingSubwordPrefix = optionalString(model, "continuing_subword_prefix");
        endOfWordSuffix = optionalString(model, "end_of_word_suffix");
        byteFallback = flag(model, "byte_fallback", false, "model");
        fuseUnk = flag(model, "fuse_unk", false, "model");
        ignoreMerges = flag(model, "ignore_merges", false, "model");

        JsonNode vocabNode = model.get("vocab");
        if (vocabNode == null || vocabNode.isNull()) {
            throw error("the BPE model has no \"vocab\"");
        }
        if (!vocabNode.isObject()) {
            throw error("\"model.vocab\" is a JSON " + kind(vocabNode) + ", expected an object of token -> id");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode idNode = e.getValue();
            String bad = badId(idNode);
            if (!bad.isEmpty()) {
                throw error("vocab entry \"" + e.getKey() + "\" has id " + idNode + ", " + bad);
            }
            int id = idNode.asInt();
            String previous = vocabTokenOfId.putIfAbsent(id, e.getKey());
            if (previous != null) {
                throw error("duplicate id " + id + " in the vocab (tokens \"" + previous + "\" and \""
                        + e.getKey() + "\")");
            }
            vocab.put(e.getKey(), id);
        }
        String unk = optionalString(model, "unk_token");
        if (unk != null) {
            Integer id = vocab.get(unk);
            if (id == null) {
                throw error("\"model.unk_token\" \"" + unk + "\" is not in the vocab");
            }
            unkId = id;
        }
        parseMerges(model.get("merges"));
    }

    private void parseMerges(JsonNode mergesNode) {
        if (mergesNode == null || mergesNode.isNull()) {
            throw error("the BPE model has no \"merges\"");
        }
        if (!mergesNode.isArray()) {
            throw error("\"model.merges\" is a JSON " + kind(mergesNode) + ", expected an array");
        }
        List<String[]> pairs = new ArrayList<>(mergesNode.size());
        boolean legacy = mergesNode.size() > 0 && mergesNode.get(0).isTextual();
        int index = 0;
        for (JsonNode merge : mergesNode) {
            index++;
            if (legacy) {
                if (!merge.isTextual()) {
                    throw error("merge #" + index + " is " + merge + ", expected a string \"left right\" like the"
                            + " merges before it");
                }
                String line = merge.asText();
                if (line.startsWith("#version")) {
                    continue; // HF skips the header line of merges.txt files
                }
                String[] parts = line.split(" ", -1);
                if (parts.length != 2) {
                    throw error("merge #" + index + " \"" + line + "\" is not two tokens separated by one space");
                }
                pairs.add(parts);
            } else {
                if (!merge.isArray() || merge.size() != 2 || !merge.get(0).isTextual()
                        || !merge.get(1).isTextual()) {
                    throw error("merge #" + index + " is " + merge + ", expected [\"left\", \"right\"]");
                }
                pairs.add(new String[] {merge.get(0).asText(), merge.get(1).asText()});
            }
        }
        merges = new PairMap(pairs.size());
        byte[] prefix = continuingSubwordPrefix == null ? new byte[0]
                : continuingSubwordPrefix.getBytes(StandardCharsets.UTF_8);
        for (int rank = 0; rank < pairs.size(); rank++) {
            String left = pairs.get(rank)[0];
            String right = pairs.get(rank)[1];
            int leftId = vocabIdForMerge(rank, left, right, left);
            int rightId = vocabIdForMerge(rank, left, right, right);
            // HF: merged token = left + right without the continuing-subword prefix's bytes.
            byte[] rightBytes = right.getBytes(StandardCharsets.UTF_8);
            if (rightBytes.length < prefix.length) {
                throw error("merge #" + (rank + 1) + " \"" + left + " " + right + "\": the right token is shorter"
                        + " than the continuing_subword_prefix");
            }
            String merged = left + new String(rightBytes, prefix.length, rightBytes.length - prefix.length,
                    StandardCharsets.UTF_8);
            Integer mergedId = vocab.get(merged);
            if (mergedId == null) {
                throw error("merge #" + (rank + 1) + " \"" + left + " " + right + "\" produces \"" + merged
                        + "\", which is not in the vocab");
            }
            merges.put(leftId, rightId, rank, mergedId);
        }
    }

    private int vocabIdForMerge(int rank, String left, String right, String token) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw error("merge #" + (rank + 1) + " \"" + left + " " + right + "\" refers to \"" + token
                    + "\", which is not in the vocab");
        }
        return id;
    }

    private void parseAddedTokens(JsonNode node) {
        if (node == null || node.isNull()) {
            return;
        }
        if (!node.isArray()) {
            throw error("\"added_tokens\" is a JSON " + kind(node) + ", expected an array");
        }
        // HF ignores the ids written in the file: an added token takes its vocab id when its content is in the
        // vocab, else the next id after the vocab (in file order). A file whose ids disagree is refused.
        int nextId = vocab.size();
        Map<String, AddedToken> byContent = new LinkedHashMap<>();
        Map<Integer, String> contentOfId = new HashMap<>();
        int index = 0;
        for (JsonNode t : node) {
            index++;
            String where = "added_tokens[" + (index - 1) + "]";
            if (!t.isObject()) {
                throw error(where + " is a JSON " + kind(t) + ", expected an object");
            }
            JsonNode contentNode = t.get("content");
            if (contentNode == null || !contentNode.isTextual() || contentNode.asText().isEmpty()) {
                throw error(where + " has no non-empty \"content\" string");
            }
            String content = contentNode.asText();
            JsonNode idNode = t.get("id");
            String bad = idNode == null ? "expected a non-negative integer" : badId(idNode);
            if (!bad.isEmpty()) {
                throw error(where + " (\"" + content + "\") has id " + idNode + ", " + bad);
            }
            boolean special = flag(t, "special", false, where);
            boolean normalized = flag(t, "normalized", !special, where);
            boolean singleWord = flag(t, "single_word", false, where);
            boolean lstrip = flag(t, "lstrip", false, where);
            boolean rstrip = flag(t, "rstrip", false, where);
            int id;
            AddedToken earlier = byContent.get(content);
            if (earlier != null) {
                id = earlier.id();
            } else if (vocab.containsKey(content)) {
                id = vocab.get(content);
            } else {
                id = nextId++;
                if (id >= idLimit) {
                    throw error(where + " \"" + content + "\" would get id " + id + " (the next after the vocab), "
                            + badId(com.fasterxml.jackson.databind.node.IntNode.valueOf(id)));
                }
            }
            if (id != idNode.asInt()) {
                throw error(where + " \"" + content + "\" says id " + idNode.asInt() + " but Hugging Face tokenizers"
                        + " would give it id " + id + " (an added token takes its vocab id, or the next id after"
                        + " the vocab in file order)");
            }
            String vocabToken = vocabTokenOfId.get(id);
            if (vocabToken != null && !vocabToken.equals(content)) {
                throw error(where + " \"" + content + "\" gets id " + id + ", which the vocab already uses for \""
                        + vocabToken + "\"");
            }
            String matchText = normalized && nfc ? Normalizer.normalize(content, Normalizer.Form.NFC) : content;
            AddedToken token = new AddedToken(id, content, matchText, singleWord, lstrip, rstrip, normalized,
                    special);
            byContent.put(content, token);
            String otherContent = contentOfId.putIfAbsent(id, content);
            if (otherContent != null && !otherContent.equals(content)) {
                throw error("duplicate id " + id + " in added_tokens (\"" + otherContent + "\" and \"" + content
                        + "\")");
            }
        }
        // A later entry with the same content replaces the earlier one's flags (same id), as in HF.
        addedTokens.addAll(byContent.values());
        // Tokens matched in the same pass (raw or normalised text) must not share a text: HF cannot build its
        // matcher from duplicate patterns either.
        Map<String, AddedToken> rawByText = new HashMap<>();
        Map<String, AddedToken> normalizedByText = new HashMap<>();
        for (AddedToken token : addedTokens) {
            AddedToken other = (token.normalized() ? normalizedByText : rawByText)
                    .putIfAbsent(token.matchText(), token);
            if (other != null) {
                throw error("added tokens \"" + other.content() + "\" (id " + other.id() + ") and \""
                        + token.content() + "\" (id " + token.id() + ") match the same text");
            }
        }
    }

    private static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case ARRAY -> "array";
            case OBJECT, POJO -> "object";
            case STRING -> "string";
            case NUMBER -> "number";
            case BOOLEAN -> "boolean";
            case NULL -> "null";
            default -> node.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
        };
    }

}
