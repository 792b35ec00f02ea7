package io.instella.model.generate;

import io.instella.model.PreparedPrompt;
import io.instella.model.lm.KVCache;
import io.instella.model.lm.OlmoModel;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * KV caches of finished requests, kept for the requests that continue them (a chat that sends its history
 * again). Each cache is stored with the identity of every position it holds ({@link #keys}); a new prompt
 * takes the stored cache sharing its longest prefix and computes only the rest. A cache is moved, not
 * copied, to the request that takes it, and only when that request keeps at least {@code minShare} of it,
 * so that an unrelated prompt sharing a few template tokens does not destroy a long conversation.
 * Idle caches are bounded in bytes; the least recently stored go first. Thread-safe.
 */
public final class PrefixCache {
    private static final long IMAGE_FLAG = Long.MIN_VALUE;

    private record Entry(long[] keys, KVCache cache) {}

    /** A cache for a new session and how many of the prompt's positions it already holds. */
    public record Lease(KVCache cache, int reusedPositions) {}

    private final long maxBytes;
    private final double minShare;
    private final List<Entry> entries = new ArrayList<>(); // least recently stored first
    private long bytes;
    private long hits;
    private long reusedTotal;

    /**
     * @param maxBytes most bytes of idle caches kept (0 keeps none)
     * @param minShare a stored cache is taken only when the new prompt keeps at least this fraction of it
     */
    public PrefixCache(long maxBytes, double minShare) {
        if (maxBytes < 0) throw new IllegalArgumentException("maxBytes must be >= 0");
        if (!(minShare >= 0 && minShare <= 1)) throw new IllegalArgumentException("minShare must be in [0, 1]");
        this.maxBytes = maxBytes;
        this.minShare = minShare;
    }

    /**
     * The identity of each prompt position: text token ids as they are; each image row a negative number
     * derived from the image's id (e.g. a hash of its bytes) and the row, so that the same image at the
     * same place matches and nothing else does.
     */
    public static long[] keys(PreparedPrompt prompt, long[] imageIds) {
        if (imageIds.length != prompt.images().size()) {
            throw new IllegalArgumentException(prompt.images().size() + " images but " + imageIds.length + " image ids");
        }
        long[] keys = new long[prompt.sequenceLength()];
        int pos = 0, img = 0;
        for (int id : prompt.inputIds()) {
            if (id == PreparedPrompt.IMAGE_TOKEN_INDEX) {
                int rows = prompt.images().get(img).tokens();
                for (int r = 0; r < rows; r++) keys[pos++] = IMAGE_FLAG | (mix(imageIds[img] + 0x9E3779B97F4A7C15L * (r + 1)) >>> 1);
                img++;
            } else {
                keys[pos++] = id;
            }
        }
        return keys;
    }

    /** SplitMix64's finaliser: spreads nearby inputs over all bits. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * A cache for a prompt with these keys: a stored one sharing a prefix (removed from the store) or a new
     * one of {@code maxLength} positions. At least one prompt position is always left to compute.
     */
    public synchronized Lease acquire(long[] promptKeys, OlmoModel lm, int maxLength) {
        Entry best = null;
        int bestShared = 0;
        for (Entry e : entries) {
            if (e.cache.maxLength() < maxLength) continue;
            int shared = Math.min(commonPrefix(e.keys, promptKeys), promptKeys.length - 1);
            if (shared > bestShared && shared >= minShare * e.keys.length) {
                best = e;
                bestShared = shared;
            }
        }
        if (best == null) return new Lease(lm.newCache(maxLength), 0);
        entries.remove(best);
        bytes -= best.cache.bytes();
        hits++;
        reusedTotal += bestShared;
        best.cache.truncate(bestShared);
        return new Lease(best.cache, bestShared);
    }

    /** Stores a cache whose positions have these keys (a finished session's), evicting the oldest over budget. */
    public synchronized void release(long[] keys, KVCache cache) {
        if (keys.length != cache.length()) {
            throw new IllegalArgumentException(keys.length + " keys for a cache of " + cache.length() + " positions");
        }
        if (keys.length == 0 || cache.bytes() > maxBytes) return;
        // A stored cache that is a prefix of this one can never be the better match: drop it.
        for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
            Entry e = it.next();
            if (e.keys.length <= keys.length && commonPrefix(e.keys, keys) == e.keys.length) {
                it.remove();
                bytes -= e.cache.bytes();
            }
        }
        entries.add(new Entry(keys.clone(), cache));
        bytes += cache.bytes();
        while (bytes > maxBytes && !entries.isEmpty()) {
            bytes -= entries.removeFirst().cache.bytes();
        }
    }

    /** Drops every stored cache. */
    public synchronized void clear() {
        entries.clear();
        bytes = 0;
    }

    public synchronized long bytes() { return bytes; }

    public synchronized int size() { return entries.size(); }

    /** Requests that took a stored cache. */
    public synchronized long hits() { return hits; }

    /** Prompt positions taken from stored caches instead of computed, in total. */
    public synchronized long reusedPositions() { return reusedTotal; }

    static int commonPrefix(long[] a, long[] b) {
        int n = Math.min(a.length, b.length);
        int i = java.util.Arrays.mismatch(a, 0, n, b, 0, n);
        return i < 0 ? n : i;
    }
}
