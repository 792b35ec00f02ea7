package io.instella.server;

import io.instella.model.InstellaVL;
import io.instella.model.config.TextConfig;

import java.util.Locale;

/**
 * What the server's heap must hold at most with given options, by part, so that {@code instella serve} can check
 * it against the heap cap before it takes requests. Weights are not part of it: they are mapped files (or, when
 * quantized at load, off-heap memory), outside the heap.
 *
 * @param kvRunning     KV caches of the running sequences: parallel x ctx x bytes per position
 * @param kvKept        KV caches kept for continued conversations (--prefix-cache-mb)
 * @param imageCache    encoded images kept by content (--image-cache-mb)
 * @param requestBodies request bodies being read and parsed: the budget (--request-buffer-mb) times the copies a
 *                      body lives in while it is parsed (raw bytes, the parser's buffer, the JSON strings, decoded
 *                      base64)
 * @param imageDecoding decoded images: decode threads x max image pixels x bytes per pixel while decoding
 * @param working       activations of a prefill chunk and a decode step, logits, the vision tower's working
 *                      buffers, the tokenizer and everything else the server keeps
 */
public record MemoryPlan(long kvRunning, long kvKept, long imageCache, long requestBodies, long imageDecoding,
                         long working) {
    /** Copies of a body alive at once while it is parsed (see requestBodies). */
    static final int BODY_COPIES = 5;
    /** Decoder raster (up to 4 bytes a pixel), the RGB image (3) and the resize's working rows, with headroom. */
    static final int DECODE_BYTES_PER_PIXEL = 12;
    private static final long BASE_WORKING = 96L << 20;

    public static MemoryPlan of(InstellaVL model, ServerOptions o) {
        TextConfig c = model.config().text();
        long perPosition = 2L * c.numLayers() * c.kvDim() * model.languageModel().cacheType().byteSize();
        long kvRunning = (long) o.parallel() * o.contextLength() * perPosition;
        long requestBodies = BODY_COPIES * o.requestBufferBytes();
        long imageDecoding = model.supportsImages()
                ? (long) o.imageDecodeThreads() * o.maxImagePixels() * DECODE_BYTES_PER_PIXEL : 0;
        // A prefill chunk's activations (hidden states, q/k/v, the MLP's two wide projections) and the logits of
        // every running sequence, in float32, twice over for the buffers a step keeps while making the next.
        long chunk = Math.min(o.prefillChunk(), o.contextLength());
        long activations = 2L * 4 * (chunk * (6L * c.hiddenSize() + 3L * c.intermediateSize())
                + (long) (o.parallel() + 1) * c.vocabSize());
        return new MemoryPlan(kvRunning, o.prefixCacheBytes(), o.imageCacheBytes(), requestBodies, imageDecoding,
                BASE_WORKING + activations);
    }

    public long total() {
        return kvRunning + kvKept + imageCache + requestBodies + imageDecoding + working;
    }

    /** For the startup banner, e.g. "2.3 GiB (KV caches 32 MiB running + 1.0 GiB kept, ...)". */
    public String describe() {
        return mib(total()) + " (KV caches " + mib(kvRunning) + " running + " + mib(kvKept) + " kept, image cache "
                + mib(imageCache) + ", request bodies " + mib(requestBodies) + ", image decoding " + mib(imageDecoding)
                + ", working memory " + mib(working) + ")";
    }

    public static String mib(long bytes) {
        if (bytes >= 10L << 30) return String.format(Locale.ROOT, "%.0f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        return String.format(Locale.ROOT, "%d MiB", (bytes + (1 << 20) - 1) >> 20);
    }
}
