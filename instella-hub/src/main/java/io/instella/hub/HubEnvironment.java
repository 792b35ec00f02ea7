package io.instella.hub;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads the huggingface_hub environment variables (constants.py and utils/_token.py) from an injectable lookup, so that
 * tests never see the real environment. Empty values count as unset.
 */
final class HubEnvironment {

    static final String DEFAULT_ENDPOINT = "https://huggingface.co";
    private static final Set<String> TRUE_VALUES = Set.of("1", "ON", "YES", "TRUE");

    private final Function<String, String> env;
    private final Path userHome;

    HubEnvironment(Function<String, String> env, Path userHome) {
        this.env = env;
        this.userHome = userHome;
    }

    String get(String name) {
        String value = env.apply(name);
        return value == null || value.isEmpty() ? null : value;
    }

    /** {@code $HF_HOME}, else {@code $XDG_CACHE_HOME/huggingface}, else {@code ~/.cache/huggingface}. */
    Path hfHome() {
        String hfHome = get("HF_HOME");
        if (hfHome != null) {
            return expandUser(hfHome);
        }
        String xdg = get("XDG_CACHE_HOME");
        Path cacheHome = xdg != null ? expandUser(xdg) : userHome.resolve(".cache");
        return cacheHome.resolve("huggingface");
    }

    /** {@code $HF_HUB_CACHE}, else the legacy {@code $HUGGINGFACE_HUB_CACHE}, else {@code <HF_HOME>/hub}. */
    Path hubCache() {
        String explicit = get("HF_HUB_CACHE");
        if (explicit == null) {
            explicit = get("HUGGINGFACE_HUB_CACHE");
        }
        return explicit != null ? expandUser(explicit) : hfHome().resolve("hub");
    }

    /** {@code $HF_ENDPOINT} without a trailing slash, else https://huggingface.co. */
    String endpoint() {
        String endpoint = get("HF_ENDPOINT");
        if (endpoint == null) {
            return DEFAULT_ENDPOINT;
        }
        while (endpoint.endsWith("/")) {
            endpoint = endpoint.substring(0, endpoint.length() - 1);
        }
        return endpoint;
    }

    /** {@code HF_HUB_OFFLINE} (or the legacy {@code TRANSFORMERS_OFFLINE}) is 1/ON/YES/TRUE. */
    boolean offline() {
        String value = get("HF_HUB_OFFLINE");
        if (value == null) {
            value = get("TRANSFORMERS_OFFLINE");
        }
        return isTrue(value);
    }

    /** {@code $HF_TOKEN_PATH}, else {@code <HF_HOME>/token}. */
    Path tokenFile() {
        String path = get("HF_TOKEN_PATH");
        return path != null ? expandUser(path) : hfHome().resolve("token");
    }

    /**
     * {@code $HF_TOKEN} (or legacy {@code $HUGGING_FACE_HUB_TOKEN}), else the token file; null when none, or when
     * {@code HF_HUB_DISABLE_IMPLICIT_TOKEN} is set.
     */
    String token() {
        if (isTrue(get("HF_HUB_DISABLE_IMPLICIT_TOKEN"))) {
            return null;
        }
        String fromEnv = cleanToken(get("HF_TOKEN"));
        if (fromEnv == null) {
            fromEnv = cleanToken(get("HUGGING_FACE_HUB_TOKEN"));
        }
        if (fromEnv != null) {
            return fromEnv;
        }
        Path file = tokenFile();
        try {
            return cleanToken(Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new HubException(HubException.Kind.IO, "Cannot read the Hugging Face token file " + file + ": "
                    + e.getMessage() + ". Fix its permissions, or set HF_TOKEN instead.", e);
        }
    }

    /** Seconds from an integer variable such as HF_HUB_ETAG_TIMEOUT, or the default. */
    Duration seconds(String name, Duration fallback) {
        String value = get(name);
        if (value == null) {
            return fallback;
        }
        try {
            long seconds = Long.parseLong(value.strip());
            return seconds > 0 ? Duration.ofSeconds(seconds) : fallback;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + "='" + value + "' is not a whole number of seconds.");
        }
    }

    private Path expandUser(String path) {
        if (path.equals("~")) {
            return userHome;
        }
        if (path.startsWith("~/")) {
            return userHome.resolve(path.substring(2));
        }
        return Path.of(path);
    }

    static boolean isTrue(String value) {
        return value != null && TRUE_VALUES.contains(value.strip().toUpperCase(Locale.ROOT));
    }

    /** As huggingface_hub's _clean_token: drop CR/LF, strip spaces; empty means none. */
    static String cleanToken(String token) {
        if (token == null) {
            return null;
        }
        String cleaned = token.replace("\r", "").replace("\n", "").strip();
        return cleaned.isEmpty() ? null : cleaned;
    }
}
