package io.instella.server;

import io.instella.model.EncodedImage;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Encoded images (the merged rows the language model takes) by the SHA-256 of the image's bytes, so that
 * an image sent again (each turn of a conversation re-sends it) is encoded once. Only the merged rows are
 * kept; bounded in bytes, least recently used first out. Thread-safe.
 */
final class ImageEmbeddingCache {
    private final long maxBytes;
    private final LinkedHashMap<String, EncodedImage> map = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

    ImageEmbeddingCache(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    synchronized EncodedImage get(String sha256) {
        return map.get(sha256);
    }

    /** Stores the merged rows of an encoded image (without its large intermediate tensors). */
    synchronized EncodedImage put(String sha256, EncodedImage image) {
        EncodedImage slim = new EncodedImage(null, null, null, image.mergedFeatures(), image.tokens(), 0);
        long size = sizeOf(slim);
        if (size > maxBytes) return slim;
        EncodedImage old = map.put(sha256, slim);
        if (old != null) bytes -= sizeOf(old);
        bytes += size;
        var it = map.entrySet().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            Map.Entry<String, EncodedImage> e = it.next();
            bytes -= sizeOf(e.getValue());
            it.remove();
        }
        return slim;
    }

    synchronized long bytes() { return bytes; }

    synchronized int size() { return map.size(); }

    private static long sizeOf(EncodedImage e) {
        return (long) e.mergedFeatures().length * Float.BYTES + 64;
    }
}
