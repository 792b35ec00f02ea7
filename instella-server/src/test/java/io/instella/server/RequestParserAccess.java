package io.instella.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.instella.core.fuzz.Fuzzer;
import io.instella.model.InstellaVL;

import java.nio.file.Path;

/**
 * Test-only door to the package-private {@link RequestParser} for the fuzz tests in {@code io.instella.server.fuzz}:
 * reads a body as {@code ApiHandler.readJson} does and parses it for both endpoints.
 */
public final class RequestParserAccess {
    private static InstellaVL model;

    private final ObjectMapper mapper = JsonMapper.builder().build();
    private final RequestParser parser;

    private RequestParserAccess(RequestParser parser, ServerOptions options) {
        this.parser = parser;
        // As ApiHandler's constructor configures its mapper.
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxStringLength((int) Math.min(Integer.MAX_VALUE, options.maxBodyBytes())).maxNestingDepth(64).build());
    }

    /** A parser with the test servers' options (4 parallel choices, 4096-token context, 100,000-pixel images). */
    public static synchronized RequestParserAccess create(Path modelDir) {
        if (model == null) model = InstellaVL.load(modelDir);
        ServerOptions options = ServerOptions.builder().host("127.0.0.1").port(0).modelName("instella-test").parallel(4)
                .contextLength(4096).maxImagePixels(100_000).build();
        return new RequestParserAccess(new RequestParser(model, options, new ImageResolver(model, options, new Metrics())), options);
    }

    /**
     * Reads the body as {@code ApiHandler.readJson} does (a {@link JsonProcessingException} or any other I/O failure
     * of the JSON reader, such as bytes that are no UTF-8/16/32, is its 400; any other exception reaches its
     * catch-all, a 500) and parses it as a chat and as a completion request.
     */
    public void parseBothKinds(byte[] body) throws java.io.IOException {
        JsonNode root;
        try {
            root = mapper.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "invalid_json", "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiError.invalid(null, "invalid_json", "the body is not valid JSON");
        }
        RuntimeException first = null;
        for (RequestParser.Kind kind : RequestParser.Kind.values()) {
            try {
                parser.parse(kind, root);
            } catch (ApiError e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }

    /** Null when the body parses for at least one endpoint, otherwise the refusals. */
    public String refusalsForBothKinds(byte[] body) throws Exception {
        JsonNode root = mapper.readTree(body);
        StringBuilder refusals = new StringBuilder();
        for (RequestParser.Kind kind : RequestParser.Kind.values()) {
            try {
                parser.parse(kind, root);
                return null;
            } catch (ApiError e) {
                refusals.append(kind).append(": ").append(e.getMessage()).append("; ");
            }
        }
        return refusals.toString();
    }

    /** Null for a 4xx {@link ApiError} with a clean message; otherwise what is wrong (a 5xx or another exception). */
    public static String rejectionProblem(Throwable t) {
        if (!(t instanceof ApiError e)) return "not an ApiError (the handler would answer 500)";
        if (e.status() < 400 || e.status() > 499) return "ApiError with status " + e.status();
        return Fuzzer.messageProblem(t);
    }
}
