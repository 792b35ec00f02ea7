package io.instella.cli;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * 10,000 hostile requests against {@code instella serve} in a child JVM started as the launcher starts it for
 * {@code --memory 256m} (-Xmx256m), over loopback only: invalid JSON, strings up to the body limit, deep nesting,
 * millions of JSON tokens, broken chunked encoding, bodies shorter than their Content-Length, wrong content types,
 * bad base64, bytes that are no image, images whose header claims too many pixels, garbage request lines and bad
 * parameters. No answer is a 500, nothing is logged with a stack, the server answers a good request afterwards,
 * and its RSS stays under the bound it prints at startup (heap cap + JVM overhead + mapped weights) during and after.
 */
class ServeHostileLoadTest {
    static final int REQUESTS = 10_000;
    static final int CLIENTS = 4;
    static final String HEAP_CAP = "256m";
    static final int MAX_BODY = 1 << 20;

    @Test
    void tenThousandHostileRequestsNeitherBreakNorBloatTheServer() {
        assertTimeoutPreemptively(Duration.ofSeconds(240), this::run);
    }

    private void run() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        // As ./instella starts `serve --memory 256m`: its JVM flags plus -Xmx from --memory.
        List<String> cmd = List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xss8m", "-XX:+UseSerialGC", "-Xmn16m", "-Xmx" + HEAP_CAP, "-cp", cp, Main.class.getName(), "serve",
                "--model", Golden.resolve("model").toString(), "--host", "127.0.0.1", "--port", "0", "--memory", HEAP_CAP,
                "--parallel", "2", "--ctx", "512", "--max-body-mb", "1", "--request-buffer-mb", "8",
                "--prefix-cache-mb", "8", "--image-cache-mb", "8", "--max-image-pixels", "1000000",
                "--image-decode-threads", "2", "--timeout", "30", "--shutdown-grace", "1");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuffer log = new StringBuffer();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            int port = -1;
            long rssBoundMib = -1;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (String line; port < 0 && System.nanoTime() < deadline && (line = out.readLine()) != null; ) {
                log.append(line).append('\n');
                Matcher bound = Pattern.compile("RSS stays under the heap cap \\+ (\\d+) MiB \\+ the mapped weights \\((\\d+) MiB\\)")
                        .matcher(line);
                if (bound.find()) rssBoundMib = 256 + Long.parseLong(bound.group(1)) + Long.parseLong(bound.group(2));
                Matcher m = Pattern.compile("serving \\S+ on http://127\\.0\\.0\\.1:(\\d+)").matcher(line);
                if (m.find()) port = Integer.parseInt(m.group(1));
            }
            assertThat(port).as(log.toString()).isPositive();
            assertThat(rssBoundMib).as("the startup banner states the RSS bound\n" + log).isPositive();
            Thread drain = Thread.ofPlatform().daemon().start(() -> {
                try {
                    for (String line; (line = out.readLine()) != null; ) log.append(line).append('\n');
                } catch (IOException ignored) {
                    // the child ended
                }
            });

            int finalPort = port;
            assertThat(goodRequest(port)).isEqualTo(200);
            long rssBefore = rssKib(p.pid());
            AtomicLong rssPeak = new AtomicLong(rssBefore);
            Thread sampler = Thread.ofPlatform().daemon().start(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    try {
                        rssPeak.accumulateAndGet(rssKib(p.pid()), Math::max);
                        Thread.sleep(50);
                    } catch (InterruptedException | IOException e) {
                        return;
                    }
                }
            });

            Map<String, LongAdder> statuses = new ConcurrentHashMap<>();
            Map<String, LongAdder> nanosByKind = new ConcurrentHashMap<>();
            AtomicInteger next = new AtomicInteger();
            long start = System.nanoTime();
            ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                int seed = c;
                done.add(clients.submit(() -> {
                    Random random = new Random(seed);
                    try (Connection conn = new Connection(finalPort)) {
                        for (int i; (i = next.getAndIncrement()) < REQUESTS; ) {
                            Hostile h = hostile(i, random);
                            long t0 = System.nanoTime();
                            int status = h.fresh() ? Connection.once(finalPort, h.bytes(), h.halfClose()) : conn.exchange(h.bytes());
                            statuses.computeIfAbsent(h.kind() + " " + (status < 0 ? "closed" : status), k -> new LongAdder()).increment();
                            nanosByKind.computeIfAbsent(h.kind(), k -> new LongAdder()).add(System.nanoTime() - t0);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get(200, TimeUnit.SECONDS);
            clients.shutdown();
            double seconds = (System.nanoTime() - start) / 1e9;

            assertThat(p.isAlive()).as(log.toString()).isTrue();
            assertThat(goodRequest(port)).isEqualTo(200);
            Thread.sleep(500);
            long rssAfter = rssKib(p.pid());
            sampler.interrupt();
            sampler.join();

            Map<String, Long> millisByKind = new TreeMap<>();
            nanosByKind.forEach((k, v) -> millisByKind.put(k, v.sum() / 1_000_000));
            System.out.println("hostile load: client time by kind (ms, all clients): " + millisByKind);
            Map<String, Long> counts = new TreeMap<>();
            statuses.forEach((k, v) -> counts.put(k, v.sum()));
            long total = counts.values().stream().mapToLong(Long::longValue).sum();
            System.out.printf("hostile load: %d requests in %.1f s; RSS before %d MiB, peak %d MiB, after %d MiB "
                            + "(bound %d MiB); answers: %s%n", total, seconds, rssBefore >> 10, rssPeak.get() >> 10,
                    rssAfter >> 10, rssBoundMib, counts);
            assertThat(total).isEqualTo(REQUESTS);
            // 503: busy (allowed under load); 505: the HTTP/9.9 request line. Never a 500.
            assertThat(counts.keySet()).as("no 5xx but 503 and 505").noneMatch(k -> k.matches(".* 5\\d\\d") && !k.endsWith(" 503")
                    && !k.endsWith(" 505"));
            assertThat(counts.keySet()).as("answers").noneMatch(k -> k.endsWith(" 200"));
            assertThat(rssPeak.get() >> 10).as("peak RSS (MiB) during the load").isLessThan(rssBoundMib);
            assertThat(rssAfter >> 10).as("RSS (MiB) after the load").isLessThan(rssBoundMib);
            assertThat(log.toString()).as("the server's log").doesNotContain("SEVERE").doesNotContain("\tat ")
                    .doesNotContain("Exception");

            p.toHandle().destroy();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            drain.join(5000);
        } finally {
            p.destroyForcibly();
        }
    }

    // ---- the hostile requests

    record Hostile(String kind, byte[] bytes, boolean fresh, boolean halfClose) {}

    static final String[] BAD_JSON = {"{", "}", "{\"messages\":", "[1,2,", "nul", "{\"a\" 1}", "\"\\u12\"", "{\"messages\":[{]}",
            "\u0000\u0001", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]", "{'single':'quotes'}", "NaN", "1e99999"};
    static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    static Hostile hostile(int i, Random random) {
        return switch (i % 16) {
            case 0, 1 -> post("invalid-json", BAD_JSON[random.nextInt(BAD_JSON.length)]);
            case 2 -> i % 64 == 2 ? post("huge-string", "{\"messages\":[{\"role\":\"user\",\"content\":\""
                    + "x".repeat(MAX_BODY - 100) + "\"}]}")
                    : post("long-string", "{\"model\":\"" + "m".repeat(20_000 + random.nextInt(20_000)) + "\",\"messages\":[]}");
            case 3 -> post("deep-nesting", "{\"messages\":" + "[".repeat(1000 + random.nextInt(20_000)));
            case 4 -> i % 64 == 4 ? post("many-tokens", "{\"messages\":[" + "{},".repeat(MAX_BODY / 3 - 20) + "{}]}")
                    : post("many-tokens", "{\"messages\":[" + "0,".repeat(5000) + "0]}");
            case 5 -> new Hostile("bad-chunking", ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n" + (random.nextBoolean() ? "zz\r\n{}\r\n0\r\n\r\n" : "5\r\n{\"messages\":[]}\r\n0\r\n\r\n"))
                    .getBytes(StandardCharsets.ISO_8859_1), true, false);
            case 6 -> new Hostile("early-eof", ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + (100 + random.nextInt(100_000)) + "\r\n\r\n{\"messages\":[").getBytes(StandardCharsets.ISO_8859_1),
                    true, true);
            case 7 -> new Hostile("wrong-content-type", request("/v1/chat/completions",
                    random.nextBoolean() ? "text/plain" : "multipart/form-data; boundary=x", "{\"messages\":[]}"), false, false);
            case 8 -> post("bad-base64", imageRequest("data:image/png;base64,!!!not base64@@@" + random.nextInt()));
            case 9 -> {
                byte[] junk = new byte[16 + random.nextInt(4096)];
                random.nextBytes(junk);
                yield post("bad-image-bytes", imageRequest("data:image/png;base64," + Base64.getEncoder().encodeToString(junk)));
            }
            case 10 -> post("bad-png", imageRequest("data:image/png;base64," + Base64.getEncoder().encodeToString(png(random))));
            case 11 -> new Hostile("garbage-request", garbage(random), true, false);
            case 12 -> post("bad-parameters", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1000,\"temperature\":\"hot\"}");
            case 13 -> post("not-a-data-url", imageRequest("data:text/plain;base64,aGVsbG8="));
            case 14 -> new Hostile("wrong-method", "DELETE /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1), false, false);
            default -> post("unknown-field", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"x" + random.nextInt() + "\":1}");
        };
    }

    static Hostile post(String kind, String json) {
        return new Hostile(kind, request("/v1/chat/completions", "application/json", json), false, false);
    }

    static byte[] request(String path, String contentType, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + contentType + "\r\nContent-Length: "
                + b.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
        byte[] all = new byte[head.length + b.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(b, 0, all, head.length, b.length);
        return all;
    }

    static String imageRequest(String url) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url
                + "\"}},{\"type\":\"text\",\"text\":\"What is it?\"}]}],\"max_tokens\":1}";
    }

    /** A PNG signature and IHDR that claim a huge or odd image, followed by a few random bytes. */
    static byte[] png(Random random) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(PNG_SIGNATURE);
        b.writeBytes(new byte[] {0, 0, 0, 13, 'I', 'H', 'D', 'R'});
        int w = random.nextBoolean() ? 100_000 : 1 + random.nextInt(5000);
        int h = random.nextBoolean() ? 100_000 : 1 + random.nextInt(5000);
        b.writeBytes(new byte[] {(byte) (w >>> 24), (byte) (w >>> 16), (byte) (w >>> 8), (byte) w,
                (byte) (h >>> 24), (byte) (h >>> 16), (byte) (h >>> 8), (byte) h, 8, 2, 0, 0, 0});
        byte[] tail = new byte[random.nextInt(64)];
        random.nextBytes(tail);
        b.writeBytes(tail);
        return b.toByteArray();
    }

    static byte[] garbage(Random random) {
        String[] lines = {"GARBAGE\r\n\r\n", "GET /\u0001 HTTP/1.1\r\nHost: x\r\n\r\n", "POST / HTTP/9.9\r\n\r\n",
                "POST /v1/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                "POST /v1/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
"GET " + "/a".repeat(10_000) + " HTTP/1.1\r\n\r\n"};
        return lines[random.nextInt(lines.length)].getBytes(StandardCharsets.ISO_8859_1);
    }

    // ---- a minimal HTTP/1.1 client that can send anything

    /** A keep-alive connection, reopened when the server closes it. */
    static final class Connection implements Closeable {
        private final int port;
        private Socket socket;
        private InputStream in;

        Connection(int port) { this.port = port; }

        int exchange(byte[] request) throws IOException {
            for (int attempt = 0; ; attempt++) {
                if (socket == null) {
                    socket = new Socket("127.0.0.1", port);
                    socket.setSoTimeout(20_000);
                    socket.setTcpNoDelay(true);
                    in = new java.io.BufferedInputStream(socket.getInputStream());
                }
                try {
                    socket.getOutputStream().write(request);
                    socket.getOutputStream().flush();
                    Response r = Response.read(in);
                    if (r == null || r.close()) close();
                    if (r == null && attempt == 0) continue; // closed between requests: once more on a new connection
                    return r == null ? -1 : r.status();
                } catch (IOException e) {
                    close();
                    if (attempt == 0) continue;
                    return -1;
                }
            }
        }

        /** One request on its own connection (optionally half-closed after it); -1 if it was closed unanswered. */
        static int once(int port, byte[] request, boolean halfClose) throws IOException {
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setSoTimeout(20_000);
                OutputStream out = s.getOutputStream();
                out.write(request);
                out.flush();
                if (halfClose) s.shutdownOutput();
                try {
                    Response r = Response.read(new java.io.BufferedInputStream(s.getInputStream()));
                    return r == null ? -1 : r.status();
                } catch (java.net.SocketException reset) {
                    return -1;
                }
            }
        }

        @Override
        public void close() {
            if (socket != null) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // already gone
                }
                socket = null;
            }
        }
    }

    record Response(int status, boolean close) {
        /** Reads one response (head and Content-Length body); null if the connection ended first. */
        static Response read(InputStream in) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int matched = 0;
            while (matched < 4) {
                int b = in.read();
                if (b < 0) return null;
                head.write(b);
                matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
                if (head.size() > 65536) throw new IOException("response head too long");
            }
            String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
            int status = Integer.parseInt(lines[0].split(" ")[1]);
            long length = 0;
            boolean close = false;
            for (String l : lines) {
                String lower = l.toLowerCase(java.util.Locale.ROOT);
                if (lower.startsWith("content-length:")) length = Long.parseLong(lower.substring(15).trim());
                if (lower.startsWith("connection:") && lower.contains("close")) close = true;
            }
            byte[] sink = new byte[8192];
            for (long left = length; left > 0; ) {
                int n = in.read(sink, 0, (int) Math.min(sink.length, left));
                if (n < 0) return new Response(status, true);
                left -= n;
            }
            return new Response(status, close);
        }
    }

    // ---- the server's side

    static int goodRequest(int port) throws IOException {
        return Connection.once(port, request("/v1/chat/completions", "application/json",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Say hi.\"}],\"max_tokens\":4}"), false);
    }

    /** VmRSS of a process, KiB. */
    static long rssKib(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        throw new IOException("no VmRSS for " + pid);
    }
}
