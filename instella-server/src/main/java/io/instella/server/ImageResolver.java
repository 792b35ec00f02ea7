package io.instella.server;

import io.instella.model.EncodedImage;
import io.instella.model.InstellaVL;
import io.instella.model.image.ImageDecoder;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns an {@code image_url} into an encoded image: {@code data:image/...;base64,} URLs always;
 * {@code http(s)://} URLs only for hosts on the allow-list (fetching arbitrary URLs would let any client make
 * the server call into its own network), without redirects, within a size and a time limit. Images are
 * decoded with a pixel limit on a bounded pool within a time limit ({@link ImageDecodePool}) and encoded by the
 * vision tower once per distinct content (SHA-256).
 */
final class ImageResolver implements AutoCloseable {
    /** An image ready for the prompt, and a 64-bit id of its content for prefix matching. */
    record Resolved(EncodedImage image, long contentId) {}

    private final InstellaVL model;
    private final ServerOptions options;
    private final Metrics metrics;
    private final ImageDecodePool decoders;
    private final ImageEmbeddingCache cache;
    private final ReentrantLock visionLock = new ReentrantLock(true);
    private volatile HttpClient http;

    ImageResolver(InstellaVL model, ServerOptions options, Metrics metrics) {
        this(model, options, metrics, ImageDecoder.defaults().withMaxPixels(options.maxImagePixels())::decode);
    }

    /** With another decoder (tests: a slow or failing one). */
    ImageResolver(InstellaVL model, ServerOptions options, Metrics metrics, ImageDecodePool.Decoder decoder) {
        this.model = model;
        this.options = options;
        this.metrics = metrics;
        this.decoders = new ImageDecodePool(decoder, options.imageDecodeThreads(), options.imageDecodeQueue(), metrics);
        this.cache = new ImageEmbeddingCache(options.imageCacheBytes());
        metrics.gauge("instella_image_cache_bytes", "Memory of encoded images kept by content hash.", cache::bytes);
        metrics.gauge("instella_image_cache_entries", "Encoded images kept by content hash.", cache::size);
    }

    /** @param param where the URL sits in the request, for error messages (e.g. messages[0].content[1].image_url) */
    Resolved resolve(String url, String param) {
        byte[] bytes = fetch(url, param);
        String hash = sha256(bytes);
        long id = Long.parseUnsignedLong(hash.substring(0, 16), 16);
        EncodedImage cached = cache.get(hash);
        if (cached != null) {
            metrics.imageCacheHits.increment();
            return new Resolved(cached, id);
        }
        try (ImageDecodePool.Decoded decoded = decoders.decode(bytes, param, options.imageDecodeTimeout())) {
            visionLock.lock();
            try {
                EncodedImage again = cache.get(hash); // another request may have encoded it meanwhile
                if (again != null) {
                    metrics.imageCacheHits.increment();
                    return new Resolved(again, id);
                }
                metrics.imageCacheMisses.increment();
                return new Resolved(cache.put(hash, model.encodeImage(decoded.image())), id);
            } finally {
                visionLock.unlock();
            }
        }
    }

    @Override
    public void close() {
        decoders.close();
    }

    private byte[] fetch(String url, String param) {
        String lower = url.length() > 16 ? url.substring(0, 16).toLowerCase(Locale.ROOT) : url.toLowerCase(Locale.ROOT);
        if (lower.startsWith("data:")) return dataUrl(url, param);
        if (lower.startsWith("http://") || lower.startsWith("https://")) return remote(url, param);
        throw ApiError.invalid(param, "invalid_image_url", "image URLs must be data:image/...;base64,... URLs"
                + (options.imageUrlHosts().isEmpty() ? "" : " or http(s) URLs of an allowed host"));
    }

    private static byte[] dataUrl(String url, String param) {
        int comma = url.indexOf(',');
        if (comma < 0) throw ApiError.invalid(param, "invalid_image_url", "a data URL needs a comma before its data");
        String meta = url.substring(5, comma).toLowerCase(Locale.ROOT);
        if (!meta.endsWith(";base64")) {
            throw ApiError.invalid(param, "invalid_image_url", "data URLs must be base64-encoded (data:image/png;base64,...)");
        }
        String type = meta.substring(0, meta.length() - ";base64".length());
        int semi = type.indexOf(';');
        if (semi >= 0) type = type.substring(0, semi);
        if (!type.isEmpty() && !type.startsWith("image/")) {
            throw ApiError.invalid(param, "invalid_image_url", "the data URL's media type is '" + type + "', not image/...");
        }
        try {
            ByteBuffer data = Base64.getMimeDecoder().decode(ByteBuffer.wrap(url.getBytes(StandardCharsets.ISO_8859_1), comma + 1,
                    url.length() - comma - 1));
            byte[] out = new byte[data.remaining()];
            data.get(out);
            return out;
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid(param, "invalid_image_url", "the data URL's base64 data is malformed: " + e.getMessage());
        }
    }

    private byte[] remote(String url, String param) {
        if (options.imageUrlHosts().isEmpty()) {
            throw ApiError.invalid(param, "image_url_disabled", "this server does not fetch image URLs; send the image inline as a "
                    + "data:image/...;base64,... URL (or start the server with --allow-image-host HOST)");
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw ApiError.invalid(param, "invalid_image_url", "malformed image URL: " + e.getMessage());
        }
        String host = uri.getHost();
        if (host == null || uri.getRawUserInfo() != null || !hostAllowed(host.toLowerCase(Locale.ROOT))) {
            throw ApiError.invalid(param, "image_url_not_allowed", "the image URL's host '" + host
                    + "' is not on this server's allow-list (--allow-image-host)");
        }
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(options.imageUrlTimeout()).GET().build();
        long deadline = System.nanoTime() + options.imageUrlTimeout().toNanos();
        try {
            HttpResponse<InputStream> response = client().send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = response.body()) {
                if (response.statusCode() != 200) {
                    throw ApiError.invalid(param, "image_url_fetch_failed", "fetching the image URL gave HTTP " + response.statusCode()
                            + (response.statusCode() / 100 == 3 ? " (redirects are not followed)" : ""));
                }
                long declared = response.headers().firstValueAsLong("content-length").orElse(-1);
                if (declared > options.imageUrlMaxBytes()) throw tooLarge(param);
                ByteBuffer buf = ByteBuffer.allocate((int) Math.min(options.imageUrlMaxBytes() + 1, declared >= 0 ? declared + 1 : 1 << 16));
                byte[] chunk = new byte[1 << 16];
                int r;
                while ((r = in.read(chunk)) > 0) {
                    if (buf.position() + r > options.imageUrlMaxBytes()) throw tooLarge(param);
                    if (System.nanoTime() - deadline > 0) throw slow(param);
                    if (buf.remaining() < r) {
                        ByteBuffer bigger = ByteBuffer.allocate((int) Math.min(options.imageUrlMaxBytes() + 1, Math.max(buf.capacity() * 2L, buf.position() + r)));
                        buf.flip();
                        bigger.put(buf);
                        buf = bigger;
                    }
                    buf.put(chunk, 0, r);
                }
                byte[] out = new byte[buf.position()];
                buf.flip().get(out);
                return out;
            }
        } catch (java.net.http.HttpTimeoutException e) {
            throw slow(param);
        } catch (IOException e) {
            throw ApiError.invalid(param, "image_url_fetch_failed", "fetching the image URL failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw slow(param);
        }
    }

    private ApiError tooLarge(String param) {
        return ApiError.invalid(param, "image_too_large", "the image at the URL is larger than the server's limit of "
                + options.imageUrlMaxBytes() + " bytes");
    }

    private ApiError slow(String param) {
        return ApiError.invalid(param, "image_url_timeout", "fetching the image URL took longer than "
                + options.imageUrlTimeout().toMillis() + " ms");
    }

    boolean hostAllowed(String host) {
        for (String pattern : options.imageUrlHosts()) {
            String p = pattern.toLowerCase(Locale.ROOT);
            if (p.equals(host)) return true;
            if (p.startsWith("*.") && host.endsWith(p.substring(1)) && host.length() > p.length() - 1) return true;
        }
        return false;
    }

    private HttpClient client() {
        HttpClient c = http;
        if (c == null) {
            synchronized (this) {
                if (http == null) {
                    http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                            .connectTimeout(options.imageUrlTimeout()).build();
                }
                c = http;
            }
        }
        return c;
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
