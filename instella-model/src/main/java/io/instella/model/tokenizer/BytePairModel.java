package io.instella.model.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of HF {@code tokenizers} applied to one byte-level pre-token: one symbol per byte-level
 * character (with {@code continuing_subword_prefix} / {@code end_of_word_suffix}, {@code byte_fallback} and
 * {@code unk_token} handled as HF does), then merges applied lowest rank first, leftmost first on ties, with a
 * priority queue (O(n log n) per word). Results for short words are cached.
 */
final class BytePairModel {
    /** Same limits as HF: words of fewer than 256 bytes, at most 10,000 of them. */
    private static final int CACHE_MAX_WORD_LENGTH = 256;
    private static final int CACHE_CAPACITY = 10_000;

    private final Map<String, Integer> vocab;
    private final PairMap merges;
    private final boolean ignoreMerges;
    private final int unkId;
    private final boolean fuseUnk;
    /**
     * Vocabulary id of the symbol for each byte, by position variant (bit 0: not the first symbol, so the
     * continuing prefix applies; bit 1: the last symbol, so the end-of-word suffix applies); -1 when absent.
     */
    private final int[][] symbolId = new int[4][256];
    /** Byte-fallback ids ({@code <0xXX>} tokens) for symbols absent from the vocabulary, or null. */
    private final int[][][] fallbackIds = new int[4][256][];
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param unkId the unknown-token id, or -1 when there is none (unknown symbols are then dropped, as in HF)
     */
    BytePairModel(Map<String, Integer> vocab, PairMap merges, boolean ignoreMerges, String continuingSubwordPrefix,
            String endOfWordSuffix, boolean byteFallback, int unkId, boolean fuseUnk) {
        this.vocab = vocab;
        this.merges = merges;
        this.ignoreMerges = ignoreMerges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        for (int variant = 0; variant < 4; variant++) {
            for (int b = 0; b < 256; b++) {
                String symbol = ((variant & 1) != 0 && continuingSubwordPrefix != null ? continuingSubwordPrefix : "")
                        + ByteLevel.byteToChar(b)
                        + ((variant & 2) != 0 && endOfWordSuffix != null ? endOfWordSuffix : "");
                Integer id = vocab.get(symbol);
                symbolId[variant][b] = id == null ? -1 : id;
                if (id == null && byteFallback) {
                    fallbackIds[variant][b] = byteFallbackIds(symbol);
                }
            }
        }
    }

    private int[] byteFallbackIds(String symbol) {
        byte[] bytes = symbol.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            Integer id = vocab.get(String.format("<0x%02X>", bytes[i] & 0xFF));
            if (id == null) {
                return null;
            }
            ids[i] = id;
        }
        return ids;
    }

    /** Appends the ids of one pre-token (a piece of normalised text) to {@code out}. */
    void encodeWord(String word, IntList out) {
        boolean cacheable = word.length() < CACHE_MAX_WORD_LENGTH;
        if (cacheable) {
            int[] hit = cache.get(word);
            if (hit != null) {
                out.addAll(hit);
                return;
            }
        }
        int[] ids = mergeWord(word.getBytes(StandardCharsets.UTF_8));
        if (cacheable && cache.size() < CACHE_CAPACITY) {
            cache.putIfAbsent(word, ids);
        }
        out.addAll(ids);
    }

    private int[] mergeWord(byte[] bytes) {
        if (ignoreMerges) {
            Integer whole = vocab.get(ByteLevel.toByteLevel(bytes));
            if (whole != null) {
                return new int[] {whole};
            }
        }
        int n = bytes.length;
        IntList symbols = new IntList(n);
        boolean unkPending = false;
        for (int i = 0; i < n; i++) {
            int variant = (i > 0 ? 1 : 0) | (i == n - 1 ? 2 : 0);
            int b = bytes[i] & 0xFF;
            int id = symbolId[variant][b];
            if (id >= 0) {
                if (unkPending) {
                    symbols.add(unkId);
                    unkPending = false;
                }
                symbols.add(id);
                continue;
            }
            int[] fallback = fallbackIds[variant][b];
            if (fallback != null) {
                // As in HF: byte-fallback ids go in directly; a pending unknown waits for the next known symbol.
                symbols.addAll(fallback);
                continue;
            }
            if (unkId >= 0) {
                if (unkPending && !fuseUnk) {
                    symbols.add(unkId);
                }
                unkPending = true;
            }
        }
        if (unkPending) {
            symbols.add(unkId);
        }
        return mergeAll(symbols.toArray());
    }

    /** Applies the merges to a symbol sequence (modified in place) and returns the surviving symbols. */
    private int[] mergeAll(int[] sym) {
        int count = sym.length;
        if (count < 2) {
            return sym;
        }
        int[] next = new int[count];
        int[] prev = new int[count];
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        LongMinHeap queue = new LongMinHeap(count);
        for (int i = 0; i + 1 < count; i++) {
            long entry = merges.get(sym[i], sym[i + 1]);
            if (entry != PairMap.ABSENT) {
                queue.push(((long) PairMap.rank(entry) << 32) | i);
            }
        }
        int remaining = count;
        while (!queue.isEmpty()) {
            long top = queue.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (sym[pos] < 0) {
                continue;
            }
            int right = next[pos];
            if (right < 0) {
                continue;
            }
            long entry = merges.get(sym[pos], sym[right]);
            if (entry == PairMap.ABSENT || PairMap.rank(entry) != rank) {
                continue; // stale: one side has merged since this pair was queued
            }
            sym[pos] = PairMap.mergedId(entry);
            sym[right] = -1;
            remaining--;
            int afterRight = next[right];
            next[pos] = afterRight;
            if (afterRight >= 0) {
                prev[afterRight] = pos;
            }
            int before = prev[pos];
            if (before >= 0) {
                long left = merges.get(sym[before], sym[pos]);
                if (left != PairMap.ABSENT) {
                    queue.push(((long) PairMap.rank(left) << 32) | before);
                }
            }
            if (afterRight >= 0) {
                long following = merges.get(sym[pos], sym[afterRight]);
                if (following != PairMap.ABSENT) {
                    queue.push(((long) PairMap.rank(following) << 32) | pos);
                }
            }
        }
        int[] result = new int[remaining];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            result[k++] = sym[i];
        }
        return result;
    }

    /** A binary min-heap of longs ((rank, position) keys: lowest rank first, then leftmost). */
    private static final class LongMinHeap {
        private long[] heap;
        private int size;

        LongMinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long value) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, heap.length * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= value) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = value;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            int half = size >>> 1;
            while (i < half) {
                int child = 2 * i + 1;
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
