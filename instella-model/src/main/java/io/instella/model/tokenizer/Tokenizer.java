package io.instella.model.tokenizer;

import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A byte-level BPE tokenizer read from a Hugging Face {@code tokenizer.json}, producing the same ids as HF
 * {@code tokenizers} (checked against version 0.23.2) for the GPT-NeoX / OLMo tokenizer family:
 *
 * <ol>
 *   <li>added tokens with {@code normalized: false} are split out of the raw text (leftmost-longest, honouring
 *       {@code single_word}, {@code lstrip}, {@code rstrip});
 *   <li>each remaining piece is normalised (NFC when the file says so) and the added tokens with
 *       {@code normalized: true} are split out of it the same way (here: the runs of 2..24 spaces and the
 *       {@code |||…|||} tokens);
 *   <li>each remaining piece is split by the GPT-2 regex, turned into byte-level characters and encoded by BPE.
 * </ol>
 *
 * <p><b>Unpaired surrogates.</b> HF receives UTF-8 text, which cannot contain unpaired surrogates; a Java string
 * can. {@link #encode} replaces each unpaired surrogate by U+FFFD first (what a lossy UTF-8 conversion does), so
 * {@code decode(encode(s))} is the NFC form of {@code s} with those replaced.
 *
 * <p>Instances are immutable apart from an internal word cache and safe for concurrent use.
 */
public final class Tokenizer {
    private final boolean nfc;
    private final boolean addPrefixSpace;
    private final boolean useRegex;
    private final AddedTokenSplitter rawSplitter;
    private final AddedTokenSplitter normalizedSplitter;
    private final BytePairModel model;
    private final Map<String, Integer> vocab;
    private final Map<String, Integer> addedIdByContent = new HashMap<>();
    /** Per id: the token string (added tokens: their matched text), or null for an unassigned id. */
    private final String[] tokenStrings;
    /** Per id: the bytes the byte-level decoder makes of it, or null for an unassigned id. */
    private final byte[][] decodeBytes;
    private final boolean[] special;

    private Tokenizer(TokenizerFile file) {
        this.nfc = file.nfc;
        this.addPrefixSpace = file.addPrefixSpace;
        this.useRegex = file.useRegex;
        this.vocab = file.vocab;
        this.model = new BytePairModel(file.vocab, file.merges, file.ignoreMerges, file.continuingSubwordPrefix,
                file.endOfWordSuffix, file.byteFallback, file.unkId, file.fuseUnk);
        List<AddedToken> raw = new ArrayList<>();
        List<AddedToken> normalized = new ArrayList<>();
        int maxId = -1;
        for (int id : file.vocab.values()) {
            maxId = Math.max(maxId, id);
        }
        for (AddedToken token : file.addedTokens) {
            (token.normalized() ? normalized : raw).add(token);
            addedIdByContent.put(token.content(), token.id());
            maxId = Math.max(maxId, token.id());
        }
        this.rawSplitter = new AddedTokenSplitter(raw);
        this.normalizedSplitter = new AddedTokenSplitter(normalized);

        tokenStrings = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : file.vocab.entrySet()) {
            tokenStrings[e.getValue()] = e.getKey();
        }
        Set<String> specialContents = new HashSet<>();
        for (AddedToken token : file.addedTokens) {
            tokenStrings[token.id()] = token.matchText();
            if (token.special()) {
                specialContents.add(token.content());
            }
        }
        decodeBytes = new byte[tokenStrings.length][];
        special = new boolean[tokenStrings.length];
        for (int id = 0; id < tokenStrings.length; id++) {
            if (tokenStrings[id] != null) {
                decodeBytes[id] = ByteLevel.decodeToken(tokenStrings[id]);
                // HF decides "special" by the token's string, whichever id it came from.
                special[id] = specialContents.contains(tokenStrings[id]);
            }
        }
    }

    /**
     * Reads a Hugging Face {@code tokenizer.json}.
     *
     * @throws TokenizerException when the file is missing, unreadable, not JSON, inconsistent (merges naming
     *     unknown tokens, duplicate ids, ...) or describes a tokenizer other than byte-level BPE
     */
    public static Tokenizer load(Path tokenizerJson) throws TokenizerException {
        return load(tokenizerJson, MAX_IDS);
    }

    /** Ids a tokenizer file may use when no model bounds them: 2^22, 16 times the largest vocabulary in use. */
    public static final int MAX_IDS = 1 << 22;

    /**
     * Reads a Hugging Face {@code tokenizer.json} for a model with {@code vocabSize} embedding rows: every id in
     * the file must be below it (an id the model cannot embed is refused when loading, not when it is met).
     *
     * @throws TokenizerException as {@link #load(Path)}, and for an id at or above vocabSize
     */
    public static Tokenizer load(Path tokenizerJson, int vocabSize) throws TokenizerException {
        Objects.requireNonNull(tokenizerJson, "tokenizerJson");
        if (vocabSize < 1) throw new IllegalArgumentException("vocabSize " + vocabSize);
        return new Tokenizer(TokenizerFile.read(tokenizerJson, vocabSize));
    }

    /** The ids of {@code text}, as HF {@code tokenizer(text).input_ids} (nothing is added around them). */
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        String input = Utf8.replaceUnpairedSurrogates(text);
        IntList ids = new IntList(input.length() / 3 + 4);
        for (AddedTokenSplitter.Split split : rawSplitter.split(input)) {
            if (split.token() != null) {
                ids.add(split.token().id());
                continue;
            }
            String normalized = normalize(input.substring(split.start(), split.end()));
            for (AddedTokenSplitter.Split inner : normalizedSplitter.split(normalized)) {
                if (inner.token() != null) {
                    ids.add(inner.token().id());
                } else if (inner.end() > inner.start()) {
                    encodePiece(normalized.substring(inner.start(), inner.end()), ids);
                }
            }
        }
        return ids.toArray();
    }

    private String normalize(String piece) {
        if (!nfc || Normalizer.isNormalized(piece, Normalizer.Form.NFC)) {
            return piece;
        }
        return Normalizer.normalize(piece, Normalizer.Form.NFC);
    }

    private void encodePiece(String piece, IntList ids) {
        String text = addPrefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
        if (!useRegex) {
            model.encodeWord(text, ids);
            return;
        }
        ByteLevel.splitGpt2(text, (start, end) -> model.encodeWord(text.substring(start, end), ids));
    }

    /** The text of {@code ids}, as HF {@code decode(ids)}; see {@link #decode(int[], boolean)}. */
    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /**
     * The text of {@code ids}, as HF {@code decode(ids, skip_special_tokens)}: the tokens' bytes joined and read
     * as UTF-8, each ill-formed byte sequence becoming U+FFFD. Added tokens contribute their text; with
     * {@code skipSpecialTokens} the added tokens marked {@code special} ({@code <|endoftext|>},
     * {@code <|padding|>}) are left out. Ids that are not assigned (at or above {@link #vocabSize()}, such as
     * the model's padding rows 50280..50303) are left out, as HF does.
     *
     * @throws IllegalArgumentException when an id is negative (e.g. the image placeholder -200)
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        Objects.requireNonNull(ids, "ids");
        byte[] buffer = new byte[Math.max(16, ids.length * 4)];
        int length = 0;
        for (int i = 0; i < ids.length; i++) {
            byte[] bytes = bytesToDecode(ids[i], i, skipSpecialTokens);
            if (bytes == null) {
                continue;
            }
            if (length + bytes.length > buffer.length) {
                buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, length + bytes.length));
            }
            System.arraycopy(bytes, 0, buffer, length, bytes.length);
            length += bytes.length;
        }
        return Utf8.decodeLossy(buffer, length);
    }

    /** The decoder bytes of one id, or null when it contributes nothing. */
    byte[] bytesToDecode(int id, int position, boolean skipSpecialTokens) {
        if (id < 0) {
            throw new IllegalArgumentException("token id " + id + " at position " + position
                    + " is negative; only ids >= 0 can be decoded (remove placeholders such as -200 first)");
        }
        if (id >= decodeBytes.length || decodeBytes[id] == null) {
            return null;
        }
        if (skipSpecialTokens && special[id]) {
            return null;
        }
        return decodeBytes[id];
    }

    /** Number of ids, including the added tokens: one more than the largest id (50280 for OLMo). */
    public int vocabSize() {
        return tokenStrings.length;
    }

    /** The id of a token string (added-token content first, then the BPE vocabulary), as HF token_to_id. */
    public OptionalInt tokenId(String token) {
        Objects.requireNonNull(token, "token");
        Integer id = addedIdByContent.get(token);
        if (id == null) {
            id = vocab.get(token);
        }
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /**
     * The token string of an id: the byte-level form for BPE tokens (e.g. {@code "Ġworld"}), the text for added
     * tokens (e.g. {@code "|||IP_ADDRESS|||"}).
     *
     * @throws IllegalArgumentException when the id is not assigned
     */
    public String tokenString(int id) {
        if (id < 0 || id >= tokenStrings.length || tokenStrings[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not assigned (valid ids: 0.."
                    + (tokenStrings.length - 1) + ")");
        }
        return tokenStrings[id];
    }

    /** Whether the id is an added token marked {@code special} (skipped by skip-special decoding). */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    /** A decoder for streaming generated ids as text; keeps special tokens. */
    public IncrementalDecoder newIncrementalDecoder() {
        return new IncrementalDecoder(this, false);
    }

    /** A decoder for streaming generated ids as text, optionally leaving out special tokens. */
    public IncrementalDecoder newIncrementalDecoder(boolean skipSpecialTokens) {
        return new IncrementalDecoder(this, skipSpecialTokens);
    }
}
