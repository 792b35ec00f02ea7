package io.instella.hub;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in for the Hub's CDN on 127.0.0.1 (another port than the fake Hub, so another host for the client). Written
 * on raw sockets, one request per connection, so tests can cut a response mid-body (close the socket after N bytes)
 * or corrupt it. Serves {@code GET /lfs/<sha256>?signature=...} with Range support.
 */
final class FakeCdn implements AutoCloseable {

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private final ServerSocket server;
    private final Thread acceptor;
    private final FakeHub.RequestLog log;
    private final Map<String, byte[]> objects = new ConcurrentHashMap<>();

    /** Number of coming GETs to cut after {@link #cutAfter} body bytes. */
    final AtomicInteger cutNext = new AtomicInteger();
    volatile long cutAfter;
    /** Flip one byte of every body sent (same length, wrong content). */
    volatile boolean corrupt;
    /** Pause this long after half of each body, to make downloads overlap. */
    volatile long pauseMillis;

    FakeCdn(FakeHub.RequestLog log) throws IOException {
        this.log = log;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = Thread.ofPlatform().daemon().name("fake-cdn").start(this::acceptLoop);
    }

    String base() {
        return "http://127.0.0.1:" + server.getLocalPort();
    }

    /** Publishes an object and returns its signed-looking URL. */
    String put(String sha256, byte[] content) {
        objects.put(sha256, content);
        return base() + "/lfs/" + sha256 + "?signature=fake-signature";
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket socket = server.accept();
                Thread.ofVirtual().start(() -> handle(socket));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void handle(Socket socket) {
        try (socket) {
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                    StandardCharsets.ISO_8859_1));
            String requestLine = in.readLine();
            if (requestLine == null) {
                return;
            }
            Map<String, String> headers = new LinkedHashMap<>();
            for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    headers.put(line.substring(0, colon).strip().toLowerCase(Locale.ROOT),
                            line.substring(colon + 1).strip());
                }
            }
            String[] parts = requestLine.split(" ");
            String method = parts[0];
            String target = parts[1];
            log.add(new FakeHub.Request("cdn", method, target, headers));
            OutputStream out = socket.getOutputStream();
            String path = target.contains("?") ? target.substring(0, target.indexOf('?')) : target;
            byte[] content = path.startsWith("/lfs/") ? objects.get(path.substring(5)) : null;
            if (content == null) {
                out.write(("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                return;
            }
            byte[] body = content;
            if (corrupt) {
                body = content.clone();
                body[body.length / 2] ^= 0x5a;
            }
            long start = 0;
            String status = "200 OK";
            String extra = "";
            Matcher range = RANGE.matcher(headers.getOrDefault("range", ""));
            if (range.matches()) {
                start = Long.parseLong(range.group(1));
                if (start >= body.length) {
                    out.write(("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" + body.length
                            + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
                    return;
                }
                status = "206 Partial Content";
                extra = "Content-Range: bytes " + start + "-" + (body.length - 1) + "/" + body.length + "\r\n";
            }
            long length = body.length - start;
            out.write(("HTTP/1.1 " + status + "\r\nContent-Type: application/octet-stream\r\nContent-Length: "
                    + length + "\r\n" + extra + "Connection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            boolean cut = cutNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0;
            long end = cut ? Math.min(body.length, start + cutAfter) : body.length;
            long half = start + (end - start) / 2;
            if (pauseMillis > 0) {
                out.write(body, (int) start, (int) (half - start));
                out.flush();
                Thread.sleep(pauseMillis);
                out.write(body, (int) half, (int) (end - half));
            } else {
                out.write(body, (int) start, (int) (end - start));
            }
            out.flush();
            // a cut simply closes the socket here, before the announced length was sent
        } catch (IOException | InterruptedException e) {
            // the client went away
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        acceptor.interrupt();
    }
}
