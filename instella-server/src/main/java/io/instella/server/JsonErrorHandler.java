package io.instella.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;

/**
 * Jetty's answer to requests it refuses before the API sees them (a garbage request line, malformed headers,
 * headers too large, a failure of the connection itself): the OpenAI error shape, with Jetty's short reason and
 * never a stack trace or an exception's class name.
 */
final class JsonErrorHandler extends ErrorHandler {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Metrics metrics;

    JsonErrorHandler(Metrics metrics) {
        this.metrics = metrics;
        setShowStacks(false);
        setShowCauses(false);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        int code = response.getStatus();
        String reason = (String) request.getAttribute(ERROR_MESSAGE);
        if (request.getAttribute(ERROR_EXCEPTION) instanceof HttpException e) {
            code = e.getCode();
            if (reason == null) reason = e.getReason();
        }
        if (code < 400 || code > 599) code = 500;
        metrics.request("malformed", code);
        response.setStatus(code);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        if (HttpStatus.hasNoBody(code) || "HEAD".equals(request.getMethod())) {
            callback.succeeded();
            return true;
        }
        String message = code >= 500 ? "internal error while reading the request"
                : "malformed HTTP request" + (reason == null || reason.isBlank() ? "" : ": " + reason);
        ApiError error = new ApiError(code, code >= 500 ? "server_error" : "invalid_request_error", null,
                code >= 500 ? "internal_error" : "bad_http_request", message);
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(error.toJson());
        } catch (Exception e) {
            body = new byte[0];
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
        return true;
    }
}
