package io.instella.server;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request that cannot be served, answered in the OpenAI error shape
 * {@code {"error": {"message", "type", "param", "code"}}} with its HTTP status.
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiError(int status, String type, String param, String code, String message) {
        // Messages quote what the client sent (a role, a model name): a megabyte of it is not echoed back.
        super(io.instella.core.util.UserMessages.abbreviate(message));
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: a parameter is missing, of the wrong type or out of range. */
    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    /** 400 with a machine-readable code. */
    public static ApiError invalid(String param, String code, String message) {
        return new ApiError(400, "invalid_request_error", param, code, message);
    }

    /** 400: a parameter this server understands but does not implement. */
    public static ApiError unsupported(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, "unsupported_parameter", message);
    }

    public int status() { return status; }

    public String type() { return type; }

    public String param() { return param; }

    public String code() { return code; }

    public ObjectNode toJson() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        if (param == null) e.putNull("param"); else e.put("param", param);
        if (code == null) e.putNull("code"); else e.put("code", code);
        return root;
    }
}
