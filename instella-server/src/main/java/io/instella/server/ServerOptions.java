package io.instella.server;

import java.time.Duration;
import java.util.List;

/**
 * Everything {@code instella serve} can be told. Defaults are safe for a machine shared with others:
 * loopback only, no CORS, no fetching of image URLs.
 *
 * @param host              interface to bind (127.0.0.1 by default)
 * @param port              TCP port, 0 = pick a free one
 * @param apiKey            when set, /v1/* and /metrics need {@code Authorization: Bearer <key>}
 * @param modelName         the id /v1/models reports and requests may name
 * @param parallel          sequences decoded together at most (continuous batching)
 * @param contextLength     positions per sequence (prompt + completion)
 * @param queueSize         requests waiting beyond the running ones before 429
 * @param maxBodyBytes      largest request body
 * @param maxImagePixels    largest image (width * height)
 * @param maxImagesPerRequest most images in one request
 * @param requestTimeout    a request still unfinished after this is cancelled (504)
 * @param defaultMaxTokens  completion budget when a chat request gives none (capped by the context)
 * @param prefillChunk      prompt positions computed per scheduler step, so running requests keep decoding
 * @param prefixCacheBytes  memory for KV caches of finished requests kept for continued conversations
 * @param imageCacheBytes   memory for encoded images kept by content hash
 * @param corsOrigins       origins allowed to call the API from a browser ("*" for any); empty = no CORS
 * @param imageUrlHosts     hosts whose http(s) image URLs may be fetched ("*.example.com" matches subdomains); empty = none
 * @param imageUrlMaxBytes  largest fetched image
 * @param imageUrlTimeout   time limit for fetching one image
 * @param shutdownGrace     on shutdown, how long running requests may take to finish before they are cancelled
 * @param imageDecodeThreads images decoded at once (a bounded pool beside the HTTP threads)
 * @param imageDecodeQueue  images that may wait for a decode thread; beyond that a request gets 503 at once
 * @param imageDecodeTimeout time limit for decoding a request's images; over it the request gets 400 and the decode
 *                          is interrupted
 * @param requestBufferBytes request-body bytes held in memory by all requests together; a request that would go
 *                          over it waits briefly, then gets 503
 */
public record ServerOptions(String host, int port, String apiKey, String modelName, int parallel, int contextLength,
                            int queueSize, long maxBodyBytes, long maxImagePixels, int maxImagesPerRequest,
                            Duration requestTimeout, int defaultMaxTokens, int prefillChunk, long prefixCacheBytes,
                            long imageCacheBytes, List<String> corsOrigins, List<String> imageUrlHosts,
                            long imageUrlMaxBytes, Duration imageUrlTimeout, Duration shutdownGrace,
                            int imageDecodeThreads, int imageDecodeQueue, Duration imageDecodeTimeout,
                            long requestBufferBytes) {

    public ServerOptions {
        if (host == null || host.isBlank()) throw new IllegalArgumentException("host must be given");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in 0..65535, got " + port);
        if (apiKey != null && apiKey.isBlank()) throw new IllegalArgumentException("the API key must not be blank");
        if (parallel < 1 || parallel > 256) throw new IllegalArgumentException("parallel must be in 1..256, got " + parallel);
        if (contextLength < 16) throw new IllegalArgumentException("context length must be >= 16, got " + contextLength);
        if (queueSize < 0) throw new IllegalArgumentException("queue size must be >= 0, got " + queueSize);
        if (maxBodyBytes < 1024) throw new IllegalArgumentException("max body size must be >= 1 KiB");
        if (maxImagePixels < 1) throw new IllegalArgumentException("max image pixels must be >= 1");
        if (maxImagesPerRequest < 0) throw new IllegalArgumentException("max images per request must be >= 0");
        if (requestTimeout.isNegative() || requestTimeout.isZero()) throw new IllegalArgumentException("request timeout must be positive");
        if (defaultMaxTokens < 1) throw new IllegalArgumentException("default max tokens must be >= 1");
        if (prefillChunk < 1) throw new IllegalArgumentException("prefill chunk must be >= 1");
        if (prefixCacheBytes < 0 || imageCacheBytes < 0) throw new IllegalArgumentException("cache sizes must be >= 0");
        corsOrigins = List.copyOf(corsOrigins);
        imageUrlHosts = List.copyOf(imageUrlHosts);
        if (imageUrlMaxBytes < 1) throw new IllegalArgumentException("image URL size limit must be >= 1");
        if (imageUrlTimeout.isNegative() || imageUrlTimeout.isZero()) throw new IllegalArgumentException("image URL timeout must be positive");
        if (shutdownGrace.isNegative()) throw new IllegalArgumentException("shutdown grace must be >= 0");
        if (imageDecodeThreads < 1 || imageDecodeThreads > 256) {
            throw new IllegalArgumentException("image decode threads must be in 1..256, got " + imageDecodeThreads);
        }
        if (imageDecodeQueue < 0) throw new IllegalArgumentException("image decode queue must be >= 0, got " + imageDecodeQueue);
        if (imageDecodeTimeout.isNegative() || imageDecodeTimeout.isZero()) {
            throw new IllegalArgumentException("image decode timeout must be positive");
        }
        if (requestBufferBytes < maxBodyBytes) {
            throw new IllegalArgumentException("the request buffer budget (" + requestBufferBytes
                    + " bytes) must hold at least one largest body (" + maxBodyBytes + " bytes)");
        }
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.host = host; b.port = port; b.apiKey = apiKey; b.modelName = modelName; b.parallel = parallel;
        b.contextLength = contextLength; b.queueSize = queueSize; b.maxBodyBytes = maxBodyBytes;
        b.maxImagePixels = maxImagePixels; b.maxImagesPerRequest = maxImagesPerRequest; b.requestTimeout = requestTimeout;
        b.defaultMaxTokens = defaultMaxTokens; b.prefillChunk = prefillChunk; b.prefixCacheBytes = prefixCacheBytes;
        b.imageCacheBytes = imageCacheBytes; b.corsOrigins = corsOrigins; b.imageUrlHosts = imageUrlHosts;
        b.imageUrlMaxBytes = imageUrlMaxBytes; b.imageUrlTimeout = imageUrlTimeout; b.shutdownGrace = shutdownGrace;
        b.imageDecodeThreads = imageDecodeThreads; b.imageDecodeQueue = imageDecodeQueue;
        b.imageDecodeTimeout = imageDecodeTimeout; b.requestBufferBytes = requestBufferBytes;
        return b;
    }

    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = 8080;
        private String apiKey;
        private String modelName = "instella-vl-1b";
        private int parallel = 4;
        private int contextLength = 4096;
        private int queueSize = 64;
        private long maxBodyBytes = 20L << 20;
        private long maxImagePixels = 25_000_000L;
        private int maxImagesPerRequest = 8;
        private Duration requestTimeout = Duration.ofMinutes(10);
        private int defaultMaxTokens = 2048;
        private int prefillChunk = 512;
        private long prefixCacheBytes = 1L << 30;
        private long imageCacheBytes = 256L << 20;
        private List<String> corsOrigins = List.of();
        private List<String> imageUrlHosts = List.of();
        private long imageUrlMaxBytes = 10L << 20;
        private Duration imageUrlTimeout = Duration.ofSeconds(10);
        private Duration shutdownGrace = Duration.ofSeconds(30);
        private int imageDecodeThreads = Math.min(4, Runtime.getRuntime().availableProcessors());
        private int imageDecodeQueue = 16;
        private Duration imageDecodeTimeout = Duration.ofSeconds(10);
        /** 0 = derived at build(): four largest bodies. */
        private long requestBufferBytes;

        public Builder host(String v) { host = v; return this; }
        public Builder port(int v) { port = v; return this; }
        public Builder apiKey(String v) { apiKey = v; return this; }
        public Builder modelName(String v) { modelName = v; return this; }
        public Builder parallel(int v) { parallel = v; return this; }
        public Builder contextLength(int v) { contextLength = v; return this; }
        public Builder queueSize(int v) { queueSize = v; return this; }
        public Builder maxBodyBytes(long v) { maxBodyBytes = v; return this; }
        public Builder maxImagePixels(long v) { maxImagePixels = v; return this; }
        public Builder maxImagesPerRequest(int v) { maxImagesPerRequest = v; return this; }
        public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }
        public Builder defaultMaxTokens(int v) { defaultMaxTokens = v; return this; }
        public Builder prefillChunk(int v) { prefillChunk = v; return this; }
        public Builder prefixCacheBytes(long v) { prefixCacheBytes = v; return this; }
        public Builder imageCacheBytes(long v) { imageCacheBytes = v; return this; }
        public Builder corsOrigins(List<String> v) { corsOrigins = v; return this; }
        public Builder imageUrlHosts(List<String> v) { imageUrlHosts = v; return this; }
        public Builder imageUrlMaxBytes(long v) { imageUrlMaxBytes = v; return this; }
        public Builder imageUrlTimeout(Duration v) { imageUrlTimeout = v; return this; }
        public Builder shutdownGrace(Duration v) { shutdownGrace = v; return this; }
        public Builder imageDecodeThreads(int v) { imageDecodeThreads = v; return this; }
        public Builder imageDecodeQueue(int v) { imageDecodeQueue = v; return this; }
        public Builder imageDecodeTimeout(Duration v) { imageDecodeTimeout = v; return this; }
        /** 0 = four largest bodies. */
        public Builder requestBufferBytes(long v) { requestBufferBytes = v; return this; }

        public ServerOptions build() {
            return new ServerOptions(host, port, apiKey, modelName, parallel, contextLength, queueSize, maxBodyBytes,
                    maxImagePixels, maxImagesPerRequest, requestTimeout, defaultMaxTokens, prefillChunk, prefixCacheBytes,
                    imageCacheBytes, corsOrigins, imageUrlHosts, imageUrlMaxBytes, imageUrlTimeout, shutdownGrace,
                    imageDecodeThreads, imageDecodeQueue, imageDecodeTimeout,
                    requestBufferBytes > 0 ? requestBufferBytes : 4 * maxBodyBytes);
        }
    }
}
