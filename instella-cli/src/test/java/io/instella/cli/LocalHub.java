package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

/**
 * A Hugging Face Hub on 127.0.0.1 serving one repository made of a local folder, with the Hub's protocol as the
 * client uses it: {@code GET /api/models/{repo}/revision/{rev}} (commit and file list) and
 * {@code HEAD/GET /{repo}/resolve/{rev}/{path}} with X-Repo-Commit and the ETag (sha256 for .safetensors files,
 * as for LFS files; git blob sha1 otherwise). Records which files were downloaded.
 */
final class LocalHub implements AutoCloseable {
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    private final String repo;
    private final Map<String, byte[]> files = new TreeMap<>();
    private final HttpServer server;
    final List<String> downloaded = new CopyOnWriteArrayList<>();

    LocalHub(String repo, Path folder) throws IOException {
        this.repo = repo;
        try (Stream<Path> s = Files.walk(folder)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) files.put(folder.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
            }
        }
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = URLDecoder.decode(ex.getRequestURI().getRawPath(), StandardCharsets.UTF_8);
            String api = "/api/models/" + repo + "/revision/";
            String resolve = "/" + repo + "/resolve/";
            if (path.startsWith(api)) {
                ObjectMapper json = new ObjectMapper();
                ObjectNode root = json.createObjectNode().put("id", repo).put("sha", COMMIT);
                ArrayNode siblings = root.putArray("siblings");
                files.keySet().forEach(f -> siblings.addObject().put("rfilename", f));
                send(ex, 200, Map.of("Content-Type", "application/json"), json.writeValueAsBytes(root));
            } else if (path.startsWith(resolve)) {
                String rest = path.substring(resolve.length());
                String file = rest.substring(rest.indexOf('/') + 1);
                byte[] content = files.get(file);
                if (content == null) {
                    send(ex, 404, Map.of("X-Error-Code", "EntryNotFound", "X-Repo-Commit", COMMIT), new byte[0]);
                    return;
                }
                String etag = file.endsWith(".safetensors") ? hex("SHA-256", new byte[0], content)
                        : hex("SHA-1", ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII), content);
                if (ex.getRequestMethod().equals("GET")) downloaded.add(file);
                send(ex, 200, Map.of("X-Repo-Commit", COMMIT, "ETag", "\"" + etag + "\""), content);
            } else {
                send(ex, 404, Map.of("X-Error-Code", "RepoNotFound"), new byte[0]);
            }
        }
    }

    private static void send(HttpExchange ex, int status, Map<String, String> headers, byte[] body) throws IOException {
        headers.forEach(ex.getResponseHeaders()::set);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", String.valueOf(body.length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    private static String hex(String algorithm, byte[] prefix, byte[] data) {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            md.update(prefix);
            return HexFormat.of().formatHex(md.digest(data));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
