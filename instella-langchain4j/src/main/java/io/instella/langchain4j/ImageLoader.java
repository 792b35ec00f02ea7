package io.instella.langchain4j;

import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.exception.InvalidRequestException;
import io.instella.api.Image;
import io.instella.api.InstellaApiException;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a LangChain4j {@link ImageContent} into a decoded {@link Image}: base64 data and {@code data:} URLs,
 * {@code file:} URLs and plain paths always; {@code http(s)} URLs only for allowed hosts (as
 * {@code instella serve --allow-image-host} does), without redirects, within a size and a time limit.
 *
 * <p>The last few images are kept by source, so a conversation that repeats its images turn after turn (a chat
 * memory does) hands the model the same {@link Image} objects, and the model reuses their vision encoding and
 * the cached prompt instead of encoding them again.
 */
final class ImageLoader {
    private static final int KEPT_IMAGES = 8;

    private final List<String> allowedHosts;
    private final Duration fetchTimeout;
    private final long maxBytes;
    private final Map<String, Image> recent = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Image> eldest) {
            return size() > KEPT_IMAGES;
        }
    };
    private volatile HttpClient http;

    ImageLoader(List<String> allowedHosts, Duration fetchTimeout, long maxBytes) {
        this.allowedHosts = List.copyOf(allowedHosts);
        this.fetchTimeout = fetchTimeout;
        this.maxBytes = maxBytes;
    }

    /** @param where the image's place in the request, for messages ("messages[0] image 1") */
    Image load(ImageContent content, String where) {
        dev.langchain4j.data.image.Image image = content.image();
        try {
            if (image.base64Data() != null) {
                String key = "base64:" + image.base64Data();
                Image kept = kept(key);
                if (kept != null) return kept;
                return keep(key, Image.fromBytes(base64(image.base64Data(), where), where + " (base64 " + mimeType(image) + ")"));
            }
            URI url = image.url();
            if (url == null) throw new InvalidRequestException(where + " has neither base64 data nor a URL");
            String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
            return switch (scheme) {
                case "data" -> {
                    String key = url.toString();
                    Image kept = kept(key);
                    yield kept != null ? kept : keep(key, Image.fromBytes(dataUrl(key, where), where + " (data URL)"));
                }
                case "file" -> fromFile(Path.of(url), where);
                case "" -> fromFile(Path.of(url.toString()), where);
                case "http", "https" -> {
                    String key = url.toString();
                    Image kept = kept(key);
                    yield kept != null ? kept : keep(key, Image.fromBytes(fetch(url, where), where + " (" + key + ")"));
                }
                default -> throw new InvalidRequestException(where + ": image URLs must be data:, file: or http(s): URLs, "
                        + "or local paths; got a '" + scheme + ":' URL");
            };
        } catch (InstellaApiException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            // Path.of(URI) refuses file: URLs with a host or a query; a path string may hold characters the OS refuses.
            throw new InvalidRequestException(where + ": the image location is not a usable path or URL: " + e.getMessage(), e);
        }
    }

    private Image fromFile(Path file, String where) {
        if (!Files.isRegularFile(file)) {
            throw new InvalidRequestException(where + ": image file " + file + " not found (or not a regular file)");
        }
        String key;
        try {
            // The file may change between turns: its size and modification time are part of the key.
            key = "file:" + file.toAbsolutePath() + "|" + Files.size(file) + "|" + Files.getLastModifiedTime(file).toMillis();
        } catch (IOException e) {
            throw new InvalidRequestException(where + ": cannot read image file " + file + ": " + e.getMessage(), e);
        }
        Image kept = kept(key);
        return kept != null ? kept : keep(key, Image.fromPath(file));
    }

    private Image kept(String key) {
        synchronized (recent) {
            return recent.get(key);
        }
    }

    private Image keep(String key, Image image) {
        synchronized (recent) {
            recent.put(key, image);
        }
        return image;
    }

    private static String mimeType(dev.langchain4j.data.image.Image image) {
        return image.mimeType() != null ? image.mimeType() : "image";
    }

    private static byte[] base64(String data, String where) {
        try {
            return Base64.getMimeDecoder().decode(data);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(where + ": the image's base64 data is malformed: " + e.getMessage(), e);
        }
    }

    private static byte[] dataUrl(String url, String where) {
        int comma = url.indexOf(',');
        if (comma < 0) throw new InvalidRequestException(where + ": a data URL needs a comma before its data");
        String meta = url.substring(5, comma).toLowerCase(Locale.ROOT);
        if (!meta.endsWith(";base64")) {
            throw new InvalidRequestException(where + ": data URLs must be base64-encoded (data:image/png;base64,...)");
        }
        String type = meta.substring(0, meta.length() - ";base64".length());
        int semi = type.indexOf(';');
        if (semi >= 0) type = type.substring(0, semi);
        if (!type.isEmpty() && !type.startsWith("image/")) {
            throw new InvalidRequestException(where + ": the data URL's media type is '" + type + "', not image/...");
        }
        return base64(url.substring(comma + 1), where);
    }

    boolean hostAllowed(String host) {
        for (String p : allowedHosts) {
            if (p.equals(host)) return true;
            if (p.startsWith("*.") && host.endsWith(p.substring(1)) && host.length() > p.length() - 1) return true;
        }
        return false;
    }

    private byte[] fetch(URI url, String where) {
        if (allowedHosts.isEmpty()) {
            throw new InvalidRequestException(where + ": image URLs over http(s) are not fetched unless their host is allowed "
                    + "(builder.allowedImageHosts(...)); pass the image as base64 data, a file: URL or a path instead");
        }
        String host = url.getHost();
        if (host == null || url.getRawUserInfo() != null || !hostAllowed(host.toLowerCase(Locale.ROOT))) {
            throw new InvalidRequestException(where + ": the image URL's host '" + host
                    + "' is not among the allowed image hosts " + allowedHosts);
        }
        HttpRequest request = HttpRequest.newBuilder(url).timeout(fetchTimeout).GET().build();
        long deadline = System.nanoTime() + fetchTimeout.toNanos();
        try {
            HttpResponse<InputStream> response = client().send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = response.body()) {
                if (response.statusCode() != 200) {
                    throw new InvalidRequestException(where + ": fetching " + url + " gave HTTP " + response.statusCode()
                            + (response.statusCode() / 100 == 3 ? " (redirects are not followed)" : ""));
                }
                if (response.headers().firstValueAsLong("content-length").orElse(-1) > maxBytes) throw tooLarge(url, where);
                java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
                byte[] chunk = new byte[1 << 16];
                int r;
                while ((r = in.read(chunk)) > 0) {
                    if (out.size() + (long) r > maxBytes) throw tooLarge(url, where);
                    if (System.nanoTime() - deadline > 0) throw slow(url, where);
                    out.write(chunk, 0, r);
                }
                return out.toByteArray();
            }
        } catch (HttpTimeoutException e) {
            throw slow(url, where);
        } catch (IOException e) {
            throw new InvalidRequestException(where + ": fetching " + url + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InvalidRequestException(where + ": interrupted while fetching " + url, e);
        }
    }

    private InvalidRequestException tooLarge(URI url, String where) {
        return new InvalidRequestException(where + ": the image at " + url + " is larger than the limit of " + maxBytes
                + " bytes (builder.maxImageBytes)");
    }

    private InvalidRequestException slow(URI url, String where) {
        return new InvalidRequestException(where + ": fetching " + url + " took longer than " + fetchTimeout.toMillis()
                + " ms (builder.imageFetchTimeout)");
    }

    private HttpClient client() {
        HttpClient c = http;
        if (c == null) {
            synchronized (this) {
                if (http == null) {
                    http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(fetchTimeout).build();
                }
                c = http;
            }
        }
        return c;
    }
}
