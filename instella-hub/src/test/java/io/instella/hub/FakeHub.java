package io.instella.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * A Hub-like server on 127.0.0.1 (random port) for a few tiny repositories, answering as huggingface.co does:
 * {@code HEAD/GET /{repo}/resolve/{rev}/{path}} (regular files: 200 with the git blob sha1 as ETag; LFS files: 302 to
 * the {@link FakeCdn} with X-Linked-Etag = sha256 and X-Linked-Size), {@code GET /api/{models|datasets}/{repo}/revision/
 * {rev}}, 401/403/404 with X-Error-Code, X-Repo-Commit on every answer about a known revision.
 */
final class FakeHub implements AutoCloseable {

    static final String TOKEN = "hf_fake_token_123";
    static final String MAIN = sha1Hex("commit main".getBytes(StandardCharsets.UTF_8));
    static final String DEV = sha1Hex("commit dev".getBytes(StandardCharsets.UTF_8));

    static final byte[] CONFIG = "{\"model_type\": \"tiny\", \"hidden_size\": 8}\n".getBytes(StandardCharsets.UTF_8);
    static final byte[] CONFIG_DEV = "{\"model_type\": \"tiny\", \"hidden_size\": 16}\n"
            .getBytes(StandardCharsets.UTF_8);
    static final byte[] TOKENIZER = "{\"version\": \"1.0\", \"vocab\": {\"a\": 0}}\n".getBytes(StandardCharsets.UTF_8);
    static final byte[] README = "# tiny model\n".getBytes(StandardCharsets.UTF_8);
    static final byte[] WEIGHTS = randomBytes(300_000, 42);
    static final byte[] PRIVATE_WEIGHTS = randomBytes(50_000, 7);
    static final byte[] TRAIN = "{\"text\": \"hello\"}\n".getBytes(StandardCharsets.UTF_8);
    static final byte[] IMAGES = randomBytes(40_000, 3);

    /** One HTTP request as a server saw it; header names lower-case. */
    record Request(String server, String method, String target, Map<String, String> headers) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** Requests seen by the Hub and the CDN, in order. */
    static final class RequestLog {
        private final List<Request> requests = new CopyOnWriteArrayList<>();

        void add(Request r) {
            requests.add(r);
        }

        List<Request> all() {
            return List.copyOf(requests);
        }

        List<Request> matching(Predicate<Request> p) {
            return requests.stream().filter(p).toList();
        }

        long count(String server, String method) {
            return requests.stream().filter(r -> r.server().equals(server) && r.method().equals(method)).count();
        }

        void clear() {
            requests.clear();
        }
    }

    record FileEntry(byte[] content, boolean lfs) {
        String etag() {
            return lfs ? sha256Hex(content) : gitBlobSha1(content);
        }
    }

    static final class Repo {
        final String key;
        final Map<String, String> refs = new LinkedHashMap<>();
        final Map<String, Map<String, FileEntry>> commits = new LinkedHashMap<>();
        String token;
        boolean gated;
        String renamedTo;

        Repo(String key) {
            this.key = key;
        }
    }

    final RequestLog log = new RequestLog();
    final FakeCdn cdn;
    private final HttpServer server;
    private final Map<String, Repo> repos = new LinkedHashMap<>();
    private final ObjectMapper json = new ObjectMapper();

    FakeHub() throws IOException {
        cdn = new FakeCdn(log);
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();

        Repo tiny = repo("models/test-org/tiny-model");
        tiny.refs.put("main", MAIN);
        tiny.refs.put("dev", DEV);
        tiny.refs.put("v1.0", MAIN);
        tiny.commits.put(MAIN, files(
                "README.md", new FileEntry(README, false),
                "config.json", new FileEntry(CONFIG, false),
                "model.safetensors", new FileEntry(WEIGHTS, true),
                "nested/dir/tokenizer.json", new FileEntry(TOKENIZER, false)));
        tiny.commits.put(DEV, files(
                "config.json", new FileEntry(CONFIG_DEV, false),
                "model.safetensors", new FileEntry(WEIGHTS, true)));

        Repo priv = repo("models/test-org/private-model");
        priv.token = TOKEN;
        priv.refs.put("main", MAIN);
        priv.commits.put(MAIN, files(
                "config.json", new FileEntry(CONFIG, false),
                "weights.bin", new FileEntry(PRIVATE_WEIGHTS, true)));

        Repo gated = repo("models/test-org/gated-model");
        gated.gated = true;
        gated.refs.put("main", MAIN);
        gated.commits.put(MAIN, files("config.json", new FileEntry(CONFIG, false)));

        Repo data = repo("datasets/test-org/tiny-data");
        data.refs.put("main", MAIN);
        data.commits.put(MAIN, files(
                "data/train.jsonl", new FileEntry(TRAIN, false),
                "data/images.bin", new FileEntry(IMAGES, true)));

        repo("models/old-org/tiny-model").renamedTo = "test-org/tiny-model";

        for (Repo r : repos.values()) {
            for (Map<String, FileEntry> files : r.commits.values()) {
                for (FileEntry f : files.values()) {
                    if (f.lfs()) {
                        cdn.put(f.etag(), f.content());
                    }
                }
            }
        }
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private Repo repo(String key) {
        Repo r = new Repo(key);
        repos.put(key, r);
        return r;
    }

    private static Map<String, FileEntry> files(Object... pairs) {
        Map<String, FileEntry> m = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            m.put((String) pairs[i], (FileEntry) pairs[i + 1]);
        }
        return m;
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            Map<String, String> headers = new LinkedHashMap<>();
            ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), String.join(",", v)));
            String rawPath = ex.getRequestURI().getRawPath();
            log.add(new Request("hub", ex.getRequestMethod(), rawPath, headers));
            List<String> segments = new ArrayList<>();
            for (String s : rawPath.substring(1).split("/", -1)) {
                segments.add(URLDecoder.decode(s, StandardCharsets.UTF_8));
            }
            if (segments.size() >= 6 && segments.get(0).equals("api") && segments.get(4).equals("revision")) {
                String key = segments.get(1) + "/" + segments.get(2) + "/" + segments.get(3);
                api(ex, key, segments.get(5), headers);
                return;
            }
            String type = "models";
            if (!segments.isEmpty() && segments.get(0).equals("datasets")) {
                type = "datasets";
                segments = segments.subList(1, segments.size());
            }
            if (segments.size() >= 5 && segments.get(2).equals("resolve")) {
                String key = type + "/" + segments.get(0) + "/" + segments.get(1);
                String path = String.join("/", segments.subList(4, segments.size()));
                resolve(ex, key, segments.get(3), path, headers);
                return;
            }
            send(ex, 404, Map.of(), null);
        }
    }

    private Repo access(HttpExchange ex, String key, Map<String, String> headers, String renamedPath)
            throws IOException {
        Repo repo = repos.get(key);
        if (repo == null) {
            send(ex, 404, Map.of("X-Error-Code", "RepoNotFound", "X-Error-Message", "Repository not found"), null);
            return null;
        }
        if (repo.renamedTo != null) {
            send(ex, 307, Map.of("Location", renamedPath.replace(key.substring(key.indexOf('/') + 1),
                    repo.renamedTo)), null);
            return null;
        }
        String auth = headers.get("authorization");
        boolean authorized = ("Bearer " + TOKEN).equals(auth);
        if (repo.gated) {
            send(ex, 403, Map.of("X-Error-Code", "GatedRepo", "X-Error-Message",
                    "Access to model " + key + " is restricted."), null);
            return null;
        }
        if (repo.token != null && !authorized) {
            send(ex, 401, Map.of("X-Error-Code", "RepoNotFound", "X-Error-Message",
                    "Invalid username or password."), null);
            return null;
        }
        return repo;
    }

    private void resolve(HttpExchange ex, String key, String rev, String path, Map<String, String> headers)
            throws IOException {
        Repo repo = access(ex, key, headers, ex.getRequestURI().getRawPath());
        if (repo == null) {
            return;
        }
        String commit = repo.refs.getOrDefault(rev, repo.commits.containsKey(rev) ? rev : null);
        if (commit == null) {
            send(ex, 404, Map.of("X-Error-Code", "RevisionNotFound", "X-Error-Message", "Invalid rev id: " + rev),
                    null);
            return;
        }
        FileEntry file = repo.commits.get(commit).get(path);
        if (file == null) {
            send(ex, 404, Map.of("X-Error-Code", "EntryNotFound", "X-Error-Message", "Entry not found",
                    "X-Repo-Commit", commit), null);
            return;
        }
        if (file.lfs()) {
            String cdnUrl = cdn.put(file.etag(), file.content());
            send(ex, 302, Map.of("Location", cdnUrl, "X-Repo-Commit", commit,
                    "X-Linked-Etag", "\"" + file.etag() + "\"", "X-Linked-Size", String.valueOf(file.content().length),
                    "ETag", "W/\"3a-redirect-etag\""), null);
            return;
        }
        send(ex, 200, Map.of("X-Repo-Commit", commit, "ETag", "\"" + file.etag() + "\""), file.content());
    }

    private void api(HttpExchange ex, String key, String rev, Map<String, String> headers) throws IOException {
        Repo repo = access(ex, key, headers, ex.getRequestURI().getRawPath());
        if (repo == null) {
            return;
        }
        String commit = repo.refs.getOrDefault(rev, repo.commits.containsKey(rev) ? rev : null);
        if (commit == null) {
            send(ex, 404, Map.of("X-Error-Code", "RevisionNotFound", "X-Error-Message", "Invalid rev id: " + rev),
                    null);
            return;
        }
        ObjectNode root = json.createObjectNode();
        root.put("id", key.substring(key.indexOf('/') + 1));
        root.put("sha", commit);
        ArrayNode siblings = root.putArray("siblings");
        for (String name : repo.commits.get(commit).keySet()) {
            siblings.addObject().put("rfilename", name);
        }
        send(ex, 200, Map.of("Content-Type", "application/json"), json.writeValueAsBytes(root));
    }

    private static void send(HttpExchange ex, int status, Map<String, String> headers, byte[] body)
            throws IOException {
        Headers h = ex.getResponseHeaders();
        headers.forEach(h::set);
        boolean head = ex.getRequestMethod().equals("HEAD");
        if (head) {
            // HEAD: announce the size without a body, as the Hub does
            h.set("Content-Length", String.valueOf(body == null ? 0 : body.length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        byte[] bytes = body == null ? new byte[0] : body;
        long start = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null && range.startsWith("bytes=") && range.endsWith("-") && status == 200) {
            start = Long.parseLong(range.substring(6, range.length() - 1));
            h.set("Content-Range", "bytes " + start + "-" + (bytes.length - 1) + "/" + bytes.length);
            status = 206;
        }
        int length = bytes.length - (int) start;
        ex.sendResponseHeaders(status, length == 0 ? -1 : length);
        if (length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes, (int) start, length);
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.stop(0);
        cdn.close();
    }

    // -- hashing helpers, shared by tests --------------------------------------------------------------------

    static String sha256Hex(byte[] data) {
        return hex("SHA-256", new byte[0], data);
    }

    static String gitBlobSha1(byte[] data) {
        return hex("SHA-1", ("blob " + data.length + "\0").getBytes(StandardCharsets.US_ASCII), data);
    }

    static String sha1Hex(byte[] data) {
        return hex("SHA-1", new byte[0], data);
    }

    private static String hex(String algorithm, byte[] prefix, byte[] data) {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            md.update(prefix);
            return HexFormat.of().formatHex(md.digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return Arrays.copyOf(b, n);
    }
}
