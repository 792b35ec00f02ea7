package io.instella.model.image.webp;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** Reads the committed WebP fixtures under {@code src/test/resources/webp} (see the README there). */
final class WebpFixtures {

    private WebpFixtures() {
    }

    static byte[] bytes(String resource) {
        try (InputStream in = WebpFixtures.class.getResourceAsStream("/webp/" + resource)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource /webp/" + resource);
            }
            byte[] raw = in.readAllBytes();
            if (resource.endsWith(".gz")) {
                try (InputStream gz = new GZIPInputStream(new java.io.ByteArrayInputStream(raw))) {
                    return gz.readAllBytes();
                }
            }
            return raw;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Non-comment lines of a tab-separated index, split into fields. */
    static List<String[]> table(String resource) {
        List<String[]> rows = new ArrayList<>();
        for (String line : new String(bytes(resource), StandardCharsets.UTF_8).split("\n")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                rows.add(line.split("\t"));
            }
        }
        return rows;
    }
}
