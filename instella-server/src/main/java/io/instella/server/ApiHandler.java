package io.instella.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.TokenLogprob;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The HTTP API: routing, API key, CORS, body limit, and the OpenAI request/response shapes for
 * chat completions and completions, plain or streamed as server-sent events.
 */
final class ApiHandler extends Handler.Abstract {
    private static final Logger LOG = Logger.getLogger(ApiHandler.class.getName());
    private static final String JSON = "application/json";
    private static final String FINGERPRINT = "instella-java-0.1.0";
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);
    private static final byte[] KEEP_ALIVE = ": keep-alive\n\n".getBytes(StandardCharsets.UTF_8);
    private static final SecureRandom RANDOM = new SecureRandom();
    static final int MAX_JSON_DEPTH = 64;
    static final int MAX_JSON_NAME = 1024;
    static final int MAX_JSON_NUMBER = 100;
    static final long MAX_JSON_TOKENS = 200_000;
    /** Bodies up to this size are not counted against the request-buffer budget (they cannot add up to much). */
    static final int SMALL_BODY = 64 * 1024;
    /** How long a large body may wait for room in the request-buffer budget before 503. */
    private static final long BUDGET_WAIT_MS = 2000;

    private final ServerOptions options;
    private final Engine engine;
    private final RequestParser parser;
    private final Metrics metrics;
    private final ObjectMapper mapper;
    private final byte[] apiKeyDigest;
    private final byte[] indexHtml;
    private final long created = System.currentTimeMillis() / 1000;
    private final Semaphore bodyBudgetKib;

    ApiHandler(ServerOptions options, Engine engine, RequestParser parser, Metrics metrics) {
        this.options = options;
        this.engine = engine;
        this.parser = parser;
        this.metrics = metrics;
        this.mapper = JsonMapper.builder().build();
        // A body within the size limit must not become a much larger tree: bounded nesting, strings, names,
        // numbers and token count ([{},{},...] would otherwise turn 20 MB into millions of objects).
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxStringLength((int) Math.min(Integer.MAX_VALUE, options.maxBodyBytes()))
                .maxNestingDepth(MAX_JSON_DEPTH).maxNameLength(MAX_JSON_NAME).maxNumberLength(MAX_JSON_NUMBER)
                .maxTokenCount(MAX_JSON_TOKENS).build());
        this.bodyBudgetKib = new Semaphore((int) Math.min(Integer.MAX_VALUE, options.requestBufferBytes() >> 10));
        metrics.gauge("instella_request_buffer_bytes", "Request-body bytes held in memory now (larger bodies only).",
                () -> (long) (options.requestBufferBytes() >> 10) - bodyBudgetKib.availablePermits() << 10);
        metrics.gauge("instella_request_buffer_capacity_bytes", "Request-body bytes that may be held at once (--request-buffer-mb).",
                options::requestBufferBytes);
        this.apiKeyDigest = options.apiKey() == null ? null : sha256(options.apiKey());
        try (InputStream in = ApiHandler.class.getResourceAsStream("web/index.html")) {
            if (in == null) throw new IllegalStateException("web/index.html is missing from the server's resources");
            this.indexHtml = in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String path = Request.getPathInContext(request);
        String method = request.getMethod();
        String endpoint = switch (path) {
            case "/", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions" -> path;
            default -> path.startsWith("/v1/models/") ? "/v1/models/{id}" : "other";
        };
        int status;
        try {
            boolean corsAllowed = cors(request, response);
            if (method.equals("OPTIONS")) {
                if (!corsAllowed) throw new ApiError(405, "invalid_request_error", null, "method_not_allowed",
                        "OPTIONS is only answered when CORS is enabled (--cors-origin)");
                response.getHeaders().put("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                response.getHeaders().put("Access-Control-Allow-Headers", "Authorization, Content-Type");
                response.getHeaders().put("Access-Control-Max-Age", "600");
                status = send(response, callback, 204, null, new byte[0]);
            } else {
                status = route(request, response, callback, path, method);
            }
        } catch (ApiError e) {
            status = sendError(response, callback, e);
        } catch (EofException | HttpException.RuntimeException e) {
            // Jetty's own refusal of what the client sent (e.g. while a body was read outside readJson): not ours.
            status = sendError(response, callback, unreadableBody(e));
        } catch (OutOfMemoryError e) {
            // A capacity problem, not a bug: one line, and the client may retry.
            LOG.warning(() -> "out of memory while handling " + method + " " + path + "; the request was refused");
            status = sendError(response, callback, new ApiError(503, "service_unavailable", null, "server_busy",
                    "the server has no memory left for this request now; retry shortly"));
        } catch (Throwable t) {
            LOG.log(Level.SEVERE, "internal error on " + method + " " + path, t);
            status = sendError(response, callback, new ApiError(500, "server_error", null, "internal_error",
                    "internal error: " + t));
        }
        metrics.request(endpoint, status);
        return true;
    }

    private int route(Request request, Response response, Callback callback, String path, String method) throws IOException {
        switch (path) {
            case "/" -> {
                requireMethod(method, "GET");
                response.getHeaders().put("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'");
                return send(response, callback, 200, "text/html; charset=utf-8", indexHtml);
            }
            case "/health" -> {
                requireMethod(method, "GET");
                ObjectNode o = mapper.createObjectNode();
                o.put("status", engine.accepting() ? "ok" : "shutting_down");
                o.put("model", options.modelName());
                o.put("running", engine.runningJobs()).put("waiting", engine.waitingJobs());
                return sendJson(response, callback, engine.accepting() ? 200 : 503, o);
            }
            case "/metrics" -> {
                requireMethod(method, "GET");
                authorize(request);
                return send(response, callback, 200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render().getBytes(StandardCharsets.UTF_8));
            }
            case "/v1/models" -> {
                requireMethod(method, "GET");
                authorize(request);
                ObjectNode o = mapper.createObjectNode();
                o.put("object", "list");
                o.putArray("data").add(modelJson());
                return sendJson(response, callback, 200, o);
            }
            case "/v1/chat/completions", "/v1/completions" -> {
                requireMethod(method, "POST");
                authorize(request);
                RequestParser.Kind kind = path.equals("/v1/chat/completions") ? RequestParser.Kind.CHAT : RequestParser.Kind.COMPLETION;
                long arrival = System.nanoTime();
                RequestParser.Parsed parsed;
                // The body's room in the budget is held until the request is parsed (its JSON tree and images
                // are garbage after that).
                try (BodyLease lease = new BodyLease()) {
                    parsed = parser.parse(kind, readJson(request, lease));
                }
                Job job = new Job(parsed.prompt(), parsed.promptKeys(), parsed.choices(), arrival,
                        arrival + options.requestTimeout().toNanos());
                engine.submit(job);
                // A client that goes away while waiting for a whole answer: Jetty reports the broken connection here.
                request.addFailureListener(t -> job.cancel());
                return parsed.stream() ? stream(response, callback, parsed, job) : complete(request, response, callback, parsed, job);
            }
            default -> {
                if (path.startsWith("/v1/models/")) {
                    requireMethod(method, "GET");
                    authorize(request);
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(options.modelName())) {
                        throw new ApiError(404, "invalid_request_error", "model", "model_not_found", "The model '" + RequestParser.shorten(id) + "' does not exist");
                    }
                    return sendJson(response, callback, 200, modelJson());
                }
                if (path.equals("/favicon.ico")) return send(response, callback, 204, null, new byte[0]);
                throw new ApiError(404, "invalid_request_error", null, "not_found", "no such endpoint: " + method + " " + path
                        + " (try POST /v1/chat/completions)");
            }
        }
    }

    private ObjectNode modelJson() {
        ObjectNode m = mapper.createObjectNode();
        m.put("id", options.modelName()).put("object", "model").put("created", created).put("owned_by", "instella-java");
        m.put("max_model_len", options.contextLength());
        return m;
    }

    private static void requireMethod(String method, String expected) {
        if (!method.equals(expected) && !(expected.equals("GET") && method.equals("HEAD"))) {
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", "use " + expected + " here, not " + method);
        }
    }

    /** Checks the bearer token in constant time (digests of equal length, compared fully). */
    private void authorize(Request request) {
        if (apiKeyDigest == null) return;
        String h = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new ApiError(401, "invalid_request_error", null, "missing_api_key",
                    "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.");
        }
        if (!MessageDigest.isEqual(apiKeyDigest, sha256(h.substring(7).trim()))) {
            throw new ApiError(401, "invalid_request_error", null, "invalid_api_key", "Incorrect API key provided.");
        }
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Adds CORS headers when the request's Origin is allowed; returns whether it was. */
    private boolean cors(Request request, Response response) {
        if (options.corsOrigins().isEmpty()) return false;
        String origin = request.getHeaders().get(HttpHeader.ORIGIN);
        if (origin == null) return false;
        boolean any = options.corsOrigins().contains("*");
        if (!any && !options.corsOrigins().contains(origin)) return false;
        response.getHeaders().put("Access-Control-Allow-Origin", any ? "*" : origin);
        response.getHeaders().put("Vary", "Origin");
        return true;
    }

    private JsonNode readJson(Request request, BodyLease lease) {
        String type = request.getHeaders().get(HttpHeader.CONTENT_TYPE);
        if (type == null || !type.toLowerCase(Locale.ROOT).startsWith(JSON)) {
            throw new ApiError(415, "invalid_request_error", null, "unsupported_media_type",
                    "send the body as JSON with 'Content-Type: application/json'");
        }
        long limit = options.maxBodyBytes();
        long declared = request.getLength();
        if (declared > limit) {
            drain(request, limit);
            throw tooLarge(declared);
        }
        // Room is reserved as bytes arrive, not as announced: a client that announces a large body and sends it
        // slowly holds only what it has sent.
        BodyBuffer buf = new BodyBuffer((int) (declared >= 0 ? Math.min(declared, SMALL_BODY) : 8192));
        try (InputStream in = Request.asInputStream(request)) {
            byte[] chunk = new byte[64 * 1024];
            int r;
            while ((r = in.read(chunk)) > 0) {
                if (buf.size() + (long) r > limit) {
                    drain(request, limit);
                    throw tooLarge(-1);
                }
                if (buf.size() + r > SMALL_BODY) lease.reserve(buf.size() + (long) r);
                buf.write(chunk, 0, r);
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiError api) throw api;
            throw unreadableBody(e);
        }
        try {
            return mapper.readTree(buf.bytes(), 0, buf.size());
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "invalid_json", "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiError.invalid(null, "invalid_json", "the body is not valid JSON");
        }
    }

    /**
     * A body Jetty could not deliver: the client sent less than its Content-Length and closed, broke the chunked
     * encoding, or went away. A 400 (which the client may never read) and the connection closed; a metric, no
     * log line above FINE.
     */
    private ApiError unreadableBody(Throwable e) {
        metrics.bodyFailure(e instanceof java.io.EOFException ? "incomplete" : "malformed");
        LOG.fine(() -> "unreadable request body: " + e);
        return ApiError.invalid(null, "bad_request_body", "the request body is incomplete or malformed (it ended "
                + "before its Content-Length, the connection closed, or its chunked encoding is broken); send the whole "
                + "body with a correct Content-Length or chunked encoding");
    }

    /** A growable buffer whose bytes are handed to the JSON parser without a copy. */
    private static final class BodyBuffer extends ByteArrayOutputStream {
        BodyBuffer(int initial) { super(Math.max(initial, 1)); }

        byte[] bytes() { return buf; }
    }

    /**
     * Room for one request's body in the request-buffer budget ({@code --request-buffer-mb}), so that many large
     * bodies at once cannot fill the heap: reserved as the body arrives, waited for briefly, else 503.
     */
    private final class BodyLease implements AutoCloseable {
        private int heldKib;

        void reserve(long bytes) {
            int needKib = (int) Math.min(Integer.MAX_VALUE, (bytes + 1023) >> 10) - heldKib;
            if (needKib <= 0) return;
            boolean ok;
            try {
                ok = bodyBudgetKib.tryAcquire(needKib, BUDGET_WAIT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                ok = false;
            }
            if (!ok) {
                metrics.bodyFailure("busy");
                throw new ApiError(503, "service_unavailable", null, "server_busy", "the server is holding as many "
                        + "large request bodies as its memory allows (--request-buffer-mb); retry shortly");
            }
            heldKib += needKib;
        }

        @Override
        public void close() {
            if (heldKib > 0) bodyBudgetKib.release(heldKib);
            heldKib = 0;
        }
    }

    private ApiError tooLarge(long declared) {
        return new ApiError(413, "invalid_request_error", null, "request_too_large", "the request body"
                + (declared > 0 ? " of " + declared + " bytes" : "") + " is larger than this server's limit of "
                + options.maxBodyBytes() + " bytes (--max-body-mb); send smaller images");
    }

    /**
     * Reads and discards an oversized body (up to a bound) so that the client, still sending, gets the 413
     * answer instead of a reset connection.
     */
    private static void drain(Request request, long limit) {
        long budget = Math.max(64L << 20, 4 * limit);
        try (InputStream in = Request.asInputStream(request)) {
            byte[] chunk = new byte[64 * 1024];
            int r;
            while (budget > 0 && (r = in.read(chunk)) > 0) budget -= r;
        } catch (IOException ignored) {
            // the client gave up; the error answer may not arrive, which is fine
        }
    }

    // ---- non-streamed answers

    private int complete(Request request, Response response, Callback callback, RequestParser.Parsed parsed, Job job) {
        GenerationResult[] results = new GenerationResult[job.choiceCount()];
        boolean watching = true;
        long nextProbe = System.nanoTime();
        while (true) {
            Job.Event ev = poll(job);
            if (System.nanoTime() - nextProbe >= 0) {
                nextProbe = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(250);
                if (watching && !job.cancelled()) {
                    ClientState state = probe(request);
                    if (state == ClientState.GONE) job.cancel();
                    if (state == ClientState.SENT_MORE) {
                        watching = false;
                        response.getHeaders().put(HttpHeader.CONNECTION, "close");
                    }
                }
            }
            if (ev instanceof Job.ChoiceDone d) {
                results[d.choice()] = d.result();
            } else if (ev instanceof Job.Done) {
                break;
            } else if (ev instanceof Job.Failed f) {
                throw f.error();
            }
        }
        boolean chat = parsed.kind() == RequestParser.Kind.CHAT;
        ObjectNode o = mapper.createObjectNode();
        o.put("id", newId(chat ? "chatcmpl-" : "cmpl-"));
        o.put("object", chat ? "chat.completion" : "text_completion");
        o.put("created", System.currentTimeMillis() / 1000);
        o.put("model", parsed.model());
        o.put("system_fingerprint", FINGERPRINT);
        ArrayNode choices = o.putArray("choices");
        int completionTokens = 0;
        for (int i = 0; i < results.length; i++) {
            GenerationResult r = results[i];
            completionTokens += r.completionIds().length;
            ObjectNode c = choices.addObject();
            c.put("index", i);
            if (chat) {
                ObjectNode msg = c.putObject("message");
                msg.put("role", "assistant").put("content", r.text());
                msg.putNull("refusal");
                if (parsed.logprobs()) {
                    ObjectNode lp = c.putObject("logprobs");
                    ArrayNode content = lp.putArray("content");
                    for (TokenLogprob t : r.logprobs()) content.add(chatLogprob(t));
                    lp.putNull("refusal");
                } else {
                    c.putNull("logprobs");
                }
            } else {
                c.put("text", r.text());
                if (parsed.logprobs()) c.set("logprobs", completionLogprobs(r.logprobs(), 0));
                else c.putNull("logprobs");
            }
            c.put("finish_reason", r.finishReason().apiName());
        }
        o.set("usage", usage(job, completionTokens));
        return sendJson(response, callback, 200, o);
    }

    private Job.Event poll(Job job) {
        try {
            return job.events().poll(250, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
            throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down");
        }
    }

    private enum ClientState { WAITING, GONE, SENT_MORE }

    /**
     * Whether the client of a request that is waiting for its whole answer is still there. Jetty does not read
     * an HTTP/1.1 connection while its request is handled, so nothing would notice a closed connection until
     * the answer is written; this reads (non-blocking) from the connection: end-of-stream means the client has
     * gone. A client that pipelines another request meanwhile loses it (the byte read cannot be put back), so
     * the connection is then closed after this answer; OpenAI clients do not pipeline.
     */
    private static ClientState probe(Request request) {
        try {
            EndPoint ep = request.getConnectionMetaData().getConnection().getEndPoint();
            if (!ep.isOpen() || ep.isInputShutdown()) return ClientState.GONE;
            if (ep.isFillInterested()) return ClientState.WAITING; // Jetty watches it itself
            ByteBuffer one = BufferUtil.allocate(1);
            int n = ep.fill(one);
            return n < 0 ? ClientState.GONE : n == 0 ? ClientState.WAITING : ClientState.SENT_MORE;
        } catch (IOException e) {
            return ClientState.GONE;
        }
    }

    private ObjectNode usage(Job job, int completionTokens) {
        int prompt = job.prompt().sequenceLength();
        ObjectNode u = mapper.createObjectNode();
        u.put("prompt_tokens", prompt).put("completion_tokens", completionTokens).put("total_tokens", prompt + completionTokens);
        u.putObject("prompt_tokens_details").put("cached_tokens", job.cachedPositions());
        return u;
    }

    private ObjectNode chatLogprob(TokenLogprob t) {
        ObjectNode e = logprobEntry(t.token(), t.logprob());
        ArrayNode top = e.putArray("top_logprobs");
        for (TokenLogprob.Alternative a : t.top()) top.add(logprobEntry(a.token(), a.logprob()));
        return e;
    }

    private ObjectNode logprobEntry(String token, double logprob) {
        ObjectNode e = mapper.createObjectNode();
        e.put("token", token).put("logprob", logprob);
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) bytes.add(b & 0xff);
        return e;
    }

    /** The legacy completions shape: parallel arrays, top alternatives as {token: logprob} maps. */
    private ObjectNode completionLogprobs(List<TokenLogprob> lps, int textOffset) {
        ObjectNode o = mapper.createObjectNode();
        ArrayNode tokens = o.putArray("tokens"), values = o.putArray("token_logprobs"), top = o.putArray("top_logprobs"),
                offsets = o.putArray("text_offset");
        int offset = textOffset;
        for (TokenLogprob t : lps) {
            tokens.add(t.token());
            values.add(t.logprob());
            ObjectNode alts = top.addObject();
            for (TokenLogprob.Alternative a : t.top()) alts.put(a.token(), a.logprob());
            offsets.add(offset);
            offset += t.token().length();
        }
        return o;
    }

    // ---- streamed answers (server-sent events)

    private int stream(Response response, Callback callback, RequestParser.Parsed parsed, Job job) {
        boolean chat = parsed.kind() == RequestParser.Kind.CHAT;
        String id = newId(chat ? "chatcmpl-" : "cmpl-");
        long createdAt = System.currentTimeMillis() / 1000;
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        response.getHeaders().put("X-Accel-Buffering", "no");
        int[] textOffsets = new int[job.choiceCount()];
        int completionTokens = 0;
        try {
            if (chat) {
                for (int c = 0; c < job.choiceCount(); c++) {
                    ObjectNode delta = mapper.createObjectNode().put("role", "assistant").put("content", "");
                    write(response, event(chunk(id, createdAt, parsed, c, delta, null, null)));
                }
            }
            while (true) {
                Job.Event ev = job.events().poll(1, TimeUnit.SECONDS);
                if (ev == null) {
                    write(response, KEEP_ALIVE); // finds out early when the client has gone
                    continue;
                }
                if (ev instanceof Job.Token t) {
                    if (t.tokenId() >= 0) completionTokens++;
                    if (t.delta().isEmpty() && t.logprob() == null) continue;
                    JsonNode lp = null;
                    if (t.logprob() != null) {
                        if (chat) {
                            ObjectNode l = mapper.createObjectNode();
                            l.putArray("content").add(chatLogprob(t.logprob()));
                            l.putNull("refusal");
                            lp = l;
                        } else {
                            lp = completionLogprobs(List.of(t.logprob()), textOffsets[t.choice()]);
                        }
                    }
                    textOffsets[t.choice()] += t.delta().length();
                    ObjectNode delta = chat ? mapper.createObjectNode().put("content", t.delta()) : null;
                    write(response, event(chat ? chunk(id, createdAt, parsed, t.choice(), delta, lp, null)
                            : textChunk(id, createdAt, parsed, t.choice(), t.delta(), lp, null)));
                } else if (ev instanceof Job.ChoiceDone d) {
                    String reason = d.result().finishReason().apiName();
                    write(response, event(chat ? chunk(id, createdAt, parsed, d.choice(), mapper.createObjectNode(), null, reason)
                            : textChunk(id, createdAt, parsed, d.choice(), "", null, reason)));
                } else if (ev instanceof Job.Done) {
                    if (parsed.includeUsage()) {
                        ObjectNode u = header(id, createdAt, parsed, chat ? "chat.completion.chunk" : "text_completion");
                        u.putArray("choices");
                        u.set("usage", usage(job, completionTokens));
                        write(response, event(u));
                    }
                    break;
                } else if (ev instanceof Job.Failed f) {
                    write(response, event(f.error().toJson()));
                    break;
                }
            }
            write(response, DONE);
            response.write(true, BufferUtil.EMPTY_BUFFER, callback);
        } catch (IOException e) {
            job.cancel(); // the client went away: the engine frees its slot and cache
            callback.failed(e);
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
            callback.failed(e);
        }
        return 200;
    }

    private ObjectNode header(String id, long createdAt, RequestParser.Parsed parsed, String object) {
        ObjectNode o = mapper.createObjectNode();
        o.put("id", id).put("object", object).put("created", createdAt).put("model", parsed.model());
        o.put("system_fingerprint", FINGERPRINT);
        return o;
    }

    private ObjectNode chunk(String id, long createdAt, RequestParser.Parsed parsed, int choice, ObjectNode delta,
                             JsonNode logprobs, String finishReason) {
        ObjectNode o = header(id, createdAt, parsed, "chat.completion.chunk");
        ObjectNode c = o.putArray("choices").addObject();
        c.put("index", choice);
        c.set("delta", delta);
        if (logprobs == null) c.putNull("logprobs"); else c.set("logprobs", logprobs);
        if (finishReason == null) c.putNull("finish_reason"); else c.put("finish_reason", finishReason);
        if (parsed.includeUsage()) o.putNull("usage");
        return o;
    }

    private ObjectNode textChunk(String id, long createdAt, RequestParser.Parsed parsed, int choice, String text,
                                 JsonNode logprobs, String finishReason) {
        ObjectNode o = header(id, createdAt, parsed, "text_completion");
        ObjectNode c = o.putArray("choices").addObject();
        c.put("index", choice).put("text", text);
        if (logprobs == null) c.putNull("logprobs"); else c.set("logprobs", logprobs);
        if (finishReason == null) c.putNull("finish_reason"); else c.put("finish_reason", finishReason);
        if (parsed.includeUsage()) o.putNull("usage");
        return o;
    }

    private byte[] event(JsonNode o) throws IOException {
        return ("data: " + mapper.writeValueAsString(o) + "\n\n").getBytes(StandardCharsets.UTF_8);
    }

    /** Writes one piece of the stream and waits until it is sent; fails when the client has gone. */
    private static void write(Response response, byte[] bytes) throws IOException {
        try (Blocker.Callback b = Blocker.callback()) {
            response.write(false, ByteBuffer.wrap(bytes), b);
            b.block();
        }
    }

    private static String newId(String prefix) {
        byte[] b = new byte[12];
        RANDOM.nextBytes(b);
        return prefix + HexFormat.of().formatHex(b);
    }

    // ---- plain answers

    private int sendJson(Response response, Callback callback, int status, JsonNode body) {
        try {
            return send(response, callback, status, JSON, mapper.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private int sendError(Response response, Callback callback, ApiError e) {
        if (response.isCommitted()) {
            callback.failed(e);
            return e.status();
        }
        if (e.status() == 401) response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
        if (e.status() == 429 || e.status() == 503) response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
        // The rest of the body is unread or unreadable: this connection cannot carry another request.
        if (e.status() == 413 || "bad_request_body".equals(e.code()) || "server_busy".equals(e.code())) {
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
        }
        return sendJson(response, callback, e.status(), e.toJson());
    }

    private static int send(Response response, Callback callback, int status, String contentType, byte[] body) {
        response.setStatus(status);
        if (contentType != null) response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
        return status;
    }
}
