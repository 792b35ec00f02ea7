package io.instella.model.tokenizer;

import java.util.Arrays;

/**
 * Decodes a stream of ids piece by piece for streaming output. {@link #push(int)} returns the text completed by
 * one more id; bytes of a UTF-8 character that is still incomplete are held back until the ids that complete
 * it arrive, so a multi-byte character is never split or replaced too early. {@link #finish()} ends the stream.
 *
 * <p>The concatenation of everything returned by {@code push} for ids {@code i1..in} and then {@code finish()}
 * equals {@code tokenizer.decode(new int[] {i1, ..., in}, skipSpecialTokens)}. Not thread-safe.
 */
public final class IncrementalDecoder {
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private byte[] pending = new byte[16];
    private int pendingLength;
    private int position;

    IncrementalDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /**
     * Adds one id and returns the newly completed text (possibly empty).
     *
     * @throws IllegalArgumentException when the id is negative
     */
    public String push(int id) {
        byte[] bytes = tokenizer.bytesToDecode(id, position++, skipSpecialTokens);
        if (bytes == null || bytes.length == 0) {
            return "";
        }
        if (pendingLength + bytes.length > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, pendingLength, bytes.length);
        pendingLength += bytes.length;
        StringBuilder out = new StringBuilder(pendingLength);
        int consumed = Utf8.decodeLossy(pending, 0, pendingLength, out, false);
        System.arraycopy(pending, consumed, pending, 0, pendingLength - consumed);
        pendingLength -= consumed;
        return out.toString();
    }

    /** Adds several ids and returns the newly completed text. */
    public String push(int... ids) {
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            out.append(push(id));
        }
        return out.toString();
    }

    /** Whether bytes of an incomplete UTF-8 character are held back. */
    public boolean hasPendingBytes() {
        return pendingLength > 0;
    }

    /**
     * Ends the stream: returns U+FFFD for an incomplete character still held back (as {@code decode} does at the
     * end of its input), or the empty string, and resets the decoder for a new stream.
     */
    public String finish() {
        StringBuilder out = new StringBuilder();
        Utf8.decodeLossy(pending, 0, pendingLength, out, true);
        pendingLength = 0;
        position = 0;
        return out.toString();
    }
}
