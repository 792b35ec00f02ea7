package io.instella.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.model.EncodedImage;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.PrefixCache;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads {@code /v1/chat/completions} and {@code /v1/completions} bodies. Every field is either honoured
 * or refused with a 400 naming it: unknown fields, wrong types, out-of-range values and features this
 * server does not have (tools, logit_bias, ...) are errors, never silently dropped. Cheap checks come
 * first; images are fetched and encoded last.
 */
final class RequestParser {
    enum Kind { CHAT, COMPLETION }

    /** A request ready for the engine. */
    record Parsed(Kind kind, PreparedPrompt prompt, long[] promptKeys, List<GenerationOptions> choices, boolean stream,
                  boolean includeUsage, boolean logprobs, int topLogprobs, String model) {}

    private static final Set<String> COMMON = Set.of("model", "max_tokens", "temperature", "top_p", "n", "stream",
            "stream_options", "stop", "seed", "frequency_penalty", "presence_penalty", "user", "top_k", "min_p",
            "repetition_penalty", "ignore_eos");
    private static final Set<String> CHAT_ONLY = Set.of("messages", "max_completion_tokens", "logprobs", "top_logprobs",
            "response_format", "logit_bias", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls",
            "modalities", "store", "service_tier", "metadata", "audio", "prediction", "reasoning_effort",
            "web_search_options", "verbosity");
    private static final Set<String> COMPLETION_ONLY = Set.of("prompt", "logprobs", "echo", "suffix", "best_of", "logit_bias");
    private static final Pattern IMAGE = Pattern.compile(Pattern.quote(ChatTemplate.IMAGE_PLACEHOLDER));

    private final InstellaVL model;
    private final ServerOptions options;
    private final ImageResolver images;
    private final int maxTokenChars;

    RequestParser(InstellaVL model, ServerOptions options, ImageResolver images) {
        this.model = model;
        this.options = options;
        this.images = images;
        this.maxTokenChars = longestToken(model);
    }

    Parsed parse(Kind kind, JsonNode root) {
        if (root == null || !root.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        Set<String> allowed = kind == Kind.CHAT ? CHAT_ONLY : COMPLETION_ONLY;
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!COMMON.contains(f) && !allowed.contains(f)) {
                throw ApiError.invalid(f, "unknown_parameter", "Unrecognized request argument supplied: " + f);
            }
        }
        refuseUnsupported(kind, root);
        String modelName = string(root, "model");
        if (modelName != null && !modelName.equals(options.modelName())) {
            throw new ApiError(404, "invalid_request_error", "model", "model_not_found", "The model '" + shorten(modelName)
                    + "' does not exist; this server serves '" + options.modelName() + "' (see GET /v1/models)");
        }
        boolean stream = bool(root, "stream", false);
        boolean includeUsage = false;
        JsonNode so = present(root, "stream_options");
        if (so != null) {
            if (!stream) throw ApiError.invalid("stream_options", "stream_options is only allowed when stream is true");
            if (!so.isObject()) throw ApiError.invalid("stream_options", "stream_options must be an object");
            for (Iterator<String> it = so.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (f.equals("include_obfuscation")) {
                    if (bool(so, f, false, "stream_options." + f)) {
                        throw ApiError.unsupported("stream_options.include_obfuscation", "stream obfuscation is not supported (loopback and local networks do not need it)");
                    }
                } else if (!f.equals("include_usage")) {
                    throw ApiError.invalid("stream_options." + f, "unknown_parameter", "Unrecognized stream option: " + f);
                }
            }
            includeUsage = bool(so, "include_usage", false, "stream_options.include_usage");
        }
        int n = integer(root, "n", 1, 1, options.parallel(), "n must be between 1 and " + options.parallel()
                + " (this server's --parallel)");
        Integer maxTokens = optionalInt(root, "max_tokens", 1, Integer.MAX_VALUE);
        if (kind == Kind.CHAT) {
            Integer mct = optionalInt(root, "max_completion_tokens", 1, Integer.MAX_VALUE);
            if (mct != null && maxTokens != null && !mct.equals(maxTokens)) {
                throw ApiError.invalid("max_completion_tokens", "max_tokens and max_completion_tokens disagree; give one");
            }
            if (mct != null) maxTokens = mct;
        }
        var defaults = model.generationDefaults();
        double temperature = number(root, "temperature", defaults.doSample() ? defaults.temperature() : 0.0, 0, 2);
        double topP = number(root, "top_p", 1.0, 0, 1);
        if (topP == 0) throw ApiError.invalid("top_p", "top_p must be greater than 0 (use temperature 0 for greedy decoding)");
        int topK = integer(root, "top_k", 0, -1, Integer.MAX_VALUE, "top_k must be >= 0 (0 or -1 = off)");
        if (topK < 0) topK = 0;
        double minP = number(root, "min_p", 0, 0, 1);
        double repetition = number(root, "repetition_penalty", 1.0, Double.MIN_VALUE, 10);
        double frequency = number(root, "frequency_penalty", 0, -2, 2);
        double presence = number(root, "presence_penalty", 0, -2, 2);
        Long seed = null;
        JsonNode s = present(root, "seed");
        if (s != null) {
            if (!s.isIntegralNumber() || !s.canConvertToLong()) throw ApiError.invalid("seed", "seed must be an integer");
            seed = s.asLong();
        }
        List<String> stop = stops(root);
        boolean ignoreEos = bool(root, "ignore_eos", false);
        boolean logprobs;
        int topLogprobs;
        if (kind == Kind.CHAT) {
            logprobs = bool(root, "logprobs", false);
            Integer top = optionalInt(root, "top_logprobs", 0, 20);
            if (top != null && top > 0 && !logprobs) throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
            topLogprobs = top == null ? 0 : top;
        } else {
            Integer lp = optionalInt(root, "logprobs", 0, 5);
            logprobs = lp != null;
            topLogprobs = lp == null ? 0 : lp;
            Integer bestOf = optionalInt(root, "best_of", 1, options.parallel());
            if (bestOf != null && bestOf != n) {
                throw ApiError.unsupported("best_of", "best_of other than n is not supported (choices are not ranked)");
            }
        }
        if (kind == Kind.CHAT && present(root, "messages") == null) throw ApiError.invalid("messages", "messages is required");
        if (kind == Kind.COMPLETION && present(root, "prompt") == null) throw ApiError.invalid("prompt", "prompt is required");

        // The prompt last: it may fetch and encode images.
        PromptParts parts = kind == Kind.CHAT ? chatPrompt(root.get("messages")) : completionPrompt(root.get("prompt"));
        PreparedPrompt prompt = tokenize(parts.text, parts.images);
        long[] imageIds = parts.imageIds.stream().mapToLong(Long::longValue).toArray();
        long[] keys = PrefixCache.keys(prompt, imageIds);
        int length = prompt.sequenceLength();
        int ctx = options.contextLength();
        String param = kind == Kind.CHAT ? "messages" : "prompt";
        if (length == 0) throw ApiError.invalid(param, "the prompt is empty");
        if (length >= ctx) {
            throw ApiError.invalid(param, "context_length_exceeded", "the prompt is " + length + " tokens"
                    + (prompt.numImageTokens() > 0 ? " (" + prompt.numImageTokens() + " of them image tokens)" : "")
                    + ", which leaves no room in this server's context of " + ctx + " tokens; shorten it"
                    + (prompt.numImageTokens() > 0 ? " or send fewer or smaller images" : ""));
        }
        int budget;
        if (maxTokens == null) {
            budget = Math.min(kind == Kind.CHAT ? options.defaultMaxTokens() : 16, ctx - length);
        } else if ((long) length + maxTokens > ctx) {
            throw ApiError.invalid(kind == Kind.CHAT && present(root, "max_completion_tokens") != null ? "max_completion_tokens" : "max_tokens",
                    "context_length_exceeded", "the prompt (" + length + " tokens) plus max_tokens (" + maxTokens
                            + ") exceeds this server's context of " + ctx + " tokens; ask for at most " + (ctx - length));
        } else {
            budget = maxTokens;
        }
        List<GenerationOptions> choices = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            try {
                choices.add(GenerationOptions.builder().maxNewTokens(budget).temperature(temperature).topK(topK).topP(topP).minP(minP)
                        .repetitionPenalty(repetition).frequencyPenalty(frequency).presencePenalty(presence)
                        .seed(seed == null ? null : seed + i).stopStrings(stop).ignoreEos(ignoreEos).logprobs(logprobs)
                        .topLogprobs(topLogprobs).build());
            } catch (IllegalArgumentException e) {
                throw ApiError.invalid(null, e.getMessage());
            }
        }
        return new Parsed(kind, prompt, keys, choices, stream, includeUsage, logprobs, topLogprobs,
                modelName == null ? options.modelName() : modelName);
    }

    private void refuseUnsupported(Kind kind, JsonNode root) {
        // Fields of the OpenAI API that this server does not implement; their neutral values are accepted.
        for (Map.Entry<String, String> e : Map.of(
                "tools", "tool calls are not supported",
                "functions", "function calls are not supported",
                "function_call", "function calls are not supported",
                "audio", "audio output is not supported",
                "prediction", "predicted outputs are not supported",
                "reasoning_effort", "this model has no reasoning effort setting",
                "web_search_options", "web search is not supported",
                "verbosity", "this model has no verbosity setting",
                "metadata", "stored completions are not supported").entrySet()) {
            JsonNode v = present(root, e.getKey());
            if (v != null && !(v.isArray() && v.isEmpty())) throw ApiError.unsupported(e.getKey(), e.getValue());
        }
        JsonNode v;
        if ((v = present(root, "tool_choice")) != null && !(v.isTextual() && v.asText().equals("none"))) {
            throw ApiError.unsupported("tool_choice", "tool calls are not supported (only \"none\")");
        }
        if ((v = present(root, "parallel_tool_calls")) != null && !v.isBoolean()) {
            throw ApiError.invalid("parallel_tool_calls", "parallel_tool_calls must be a boolean");
        }
        if ((v = present(root, "response_format")) != null && !(v.isObject() && v.size() == 1 && v.path("type").asText().equals("text"))) {
            throw ApiError.unsupported("response_format", "only {\"type\": \"text\"} is supported (no JSON mode or schemas)");
        }
        if ((v = present(root, "logit_bias")) != null && !(v.isObject() && v.isEmpty())) {
            throw ApiError.unsupported("logit_bias", "logit_bias is not supported");
        }
        if ((v = present(root, "modalities")) != null && !(v.isArray() && v.size() == 1 && v.get(0).asText().equals("text"))) {
            throw ApiError.unsupported("modalities", "the only output modality is [\"text\"]");
        }
        if ((v = present(root, "store")) != null && !(v.isBoolean() && !v.asBoolean())) {
            throw ApiError.unsupported("store", "stored completions are not supported");
        }
        if ((v = present(root, "service_tier")) != null && !(v.isTextual() && Set.of("auto", "default").contains(v.asText()))) {
            throw ApiError.unsupported("service_tier", "this server has one service tier (\"auto\" or \"default\")");
        }
        if (kind == Kind.COMPLETION) {
            if ((v = present(root, "echo")) != null && !(v.isBoolean() && !v.asBoolean())) {
                throw ApiError.unsupported("echo", "echo is not supported");
            }
            if ((v = present(root, "suffix")) != null && !(v.isTextual() && v.asText().isEmpty())) {
                throw ApiError.unsupported("suffix", "suffix (insertion) is not supported by this model");
            }
        }
        String user = string(root, "user"); // an end-user id for the client's own bookkeeping; nothing to do with it here
        if (user != null && user.length() > 256) throw ApiError.invalid("user", "user must be at most 256 characters");
    }

    private record PromptParts(String text, List<EncodedImage> images, List<Long> imageIds) {}

    private PromptParts chatPrompt(JsonNode messages) {
        if (!messages.isArray() || messages.isEmpty()) throw ApiError.invalid("messages", "messages must be a non-empty array");
        List<ChatMessage> turns = new ArrayList<>();
        List<String[]> imageUrls = new ArrayList<>(); // {url, param}
        for (int i = 0; i < messages.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = messages.get(i);
            if (!m.isObject()) throw ApiError.invalid(at, at + " must be an object with role and content");
            for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (f.equals("role") || f.equals("content")) continue;
                if ((f.equals("tool_calls") || f.equals("function_call")) && (m.get(f).isNull() || m.get(f).isEmpty())) continue;
                if (f.equals("name") || f.equals("tool_calls") || f.equals("function_call") || f.equals("tool_call_id")
                        || f.equals("refusal") || f.equals("audio")) {
                    if (m.get(f).isNull()) continue;
                    throw ApiError.unsupported(at + "." + f, at + "." + f + " is not supported (the instella template has no place for it)");
                }
                throw ApiError.invalid(at + "." + f, "unknown_parameter", "Unrecognized field in " + at + ": " + f);
            }
            JsonNode r = m.get("role");
            if (r == null || !r.isTextual()) throw ApiError.invalid(at + ".role", at + ".role must be a string");
            ChatMessage.Role role = switch (r.asText()) {
                case "system", "developer" -> ChatMessage.Role.SYSTEM;
                case "user" -> ChatMessage.Role.USER;
                case "assistant" -> ChatMessage.Role.ASSISTANT;
                case "tool", "function" -> throw ApiError.unsupported(at + ".role", "role '" + r.asText()
                        + "' is not supported: this server does not do tool calls");
                default -> throw ApiError.invalid(at + ".role", "invalid_role", "unknown role '" + r.asText()
                        + "'; expected system, developer, user or assistant");
            };
            JsonNode c = m.get("content");
            String cAt = at + ".content";
            StringBuilder text = new StringBuilder();
            int imagesHere = 0;
            if (c == null || c.isNull()) {
                throw ApiError.invalid(cAt, cAt + " is required");
            } else if (c.isTextual()) {
                text.append(c.asText());
            } else if (c.isArray()) {
                for (int p = 0; p < c.size(); p++) {
                    String pAt = cAt + "[" + p + "]";
                    JsonNode part = c.get(p);
                    String type = part.isObject() ? part.path("type").asText("") : "";
                    switch (type) {
                        case "text" -> {
                            JsonNode t = part.get("text");
                            if (t == null || !t.isTextual()) throw ApiError.invalid(pAt + ".text", pAt + ".text must be a string");
                            onlyFields(part, pAt, "type", "text");
                            if (!text.isEmpty()) text.append('\n');
                            text.append(t.asText());
                        }
                        case "image_url" -> {
                            if (role != ChatMessage.Role.USER) {
                                throw ApiError.invalid(pAt, "only user messages can carry images (" + at + " is " + r.asText() + ")");
                            }
                            onlyFields(part, pAt, "type", "image_url");
                            JsonNode iu = part.get("image_url");
                            String url;
                            if (iu != null && iu.isTextual()) {
                                url = iu.asText();
                            } else if (iu != null && iu.isObject() && iu.path("url").isTextual()) {
                                onlyFields(iu, pAt + ".image_url", "url", "detail");
                                JsonNode d = iu.get("detail");
                                if (d != null && !d.isNull() && !(d.isTextual() && d.asText().equals("auto"))) {
                                    throw ApiError.unsupported(pAt + ".image_url.detail", "detail must be \"auto\": Instella-VL always "
                                            + "tiles images at its own resolution (anyres)");
                                }
                                url = iu.get("url").asText();
                            } else {
                                throw ApiError.invalid(pAt + ".image_url", pAt + ".image_url must be an object with a url string");
                            }
                            imageUrls.add(new String[]{url, pAt + ".image_url"});
                            imagesHere++;
                        }
                        case "" -> throw ApiError.invalid(pAt, pAt + " must be an object with a type");
                        default -> throw ApiError.unsupported(pAt + ".type", "content parts of type '" + type
                                + "' are not supported (only text and image_url)");
                    }
                }
            } else {
                throw ApiError.invalid(cAt, cAt + " must be a string or an array of content parts");
            }
            turns.add(new ChatMessage(role, text.toString(), imagesHere));
        }
        if (imageUrls.size() > options.maxImagesPerRequest()) {
            throw ApiError.invalid("messages", "too_many_images", "the request has " + imageUrls.size()
                    + " images; this server takes at most " + options.maxImagesPerRequest() + " per request");
        }
        if (!imageUrls.isEmpty() && !model.supportsImages()) {
            throw ApiError.invalid("messages", "this model has no vision tower; it cannot take images");
        }
        String text;
        try {
            text = ChatTemplate.render(turns, true);
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid("messages", e.getMessage());
        }
        requireTextCanFit(text, "messages");
        List<EncodedImage> encoded = new ArrayList<>();
        List<Long> ids = new ArrayList<>();
        for (String[] u : imageUrls) {
            ImageResolver.Resolved res = images.resolve(u[0], u[1]);
            encoded.add(res.image());
            ids.add(res.contentId());
        }
        return new PromptParts(text, encoded, ids);
    }

    private static void onlyFields(JsonNode node, String at, String... names) {
        Set<String> ok = Set.of(names);
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!ok.contains(f)) throw ApiError.invalid(at + "." + f, "unknown_parameter", "Unrecognized field in " + at + ": " + f);
        }
    }

    private PromptParts completionPrompt(JsonNode p) {
        String text;
        if (p.isTextual()) {
            text = p.asText();
        } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            text = p.get(0).asText();
        } else if (p.isArray() && p.size() > 1) {
            throw ApiError.unsupported("prompt", "one prompt per request (use n for several completions)");
        } else {
            throw ApiError.invalid("prompt", "prompt must be a string");
        }
        if (text.contains(ChatTemplate.IMAGE_PLACEHOLDER)) {
            throw ApiError.invalid("prompt", "the prompt contains <image>, but /v1/completions takes no images; "
                    + "use /v1/chat/completions with image_url parts");
        }
        requireTextCanFit(text, "prompt");
        return new PromptParts(text, List.of(), List.of());
    }

    /**
     * Refuses, before tokenizing (which costs about a second per megabyte), a text that cannot fit in the context
     * even if every token were the vocabulary's longest.
     */
    private void requireTextCanFit(String text, String param) {
        long most = (long) options.contextLength() * maxTokenChars;
        if (text.length() > most) {
            throw ApiError.invalid(param, "context_length_exceeded", "the prompt is " + text.length() + " characters, "
                    + "more than fit in this server's context of " + options.contextLength() + " tokens; shorten it");
        }
    }

    /** The most characters one token stands for (its byte-level string has a character per byte). */
    private static int longestToken(InstellaVL model) {
        var tokenizer = model.tokenizer();
        int longest = 1;
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            try {
                longest = Math.max(longest, tokenizer.tokenString(id).length());
            } catch (IllegalArgumentException unassigned) {
                // a gap in the ids
            }
        }
        return longest;
    }

    /** A client's value quoted in an error message, cut so that a huge value is not sent back whole. */
    static String shorten(String value) {
        return value.length() <= 200 ? value : value.substring(0, 200) + "... (" + value.length() + " characters)";
    }

    /** Tokenises like {@code InstellaVL.prepare}, with images already encoded (possibly from the cache). */
    private PreparedPrompt tokenize(String prompt, List<EncodedImage> encoded) {
        String[] chunks = IMAGE.split(prompt, -1);
        if (chunks.length - 1 != encoded.size()) {
            throw ApiError.invalid("messages", "the text has " + (chunks.length - 1) + " <image> placeholder(s) but "
                    + encoded.size() + " image(s) were given; leave <image> out of the text");
        }
        List<Integer> ids = new ArrayList<>();
        for (int c = 0; c < chunks.length; c++) {
            if (c > 0) ids.add(PreparedPrompt.IMAGE_TOKEN_INDEX);
            for (int id : model.tokenizer().encode(chunks[c])) ids.add(id);
        }
        int[] idArray = ids.stream().mapToInt(Integer::intValue).toArray();
        int length = idArray.length - encoded.size() + encoded.stream().mapToInt(EncodedImage::tokens).sum();
        return new PreparedPrompt(prompt, idArray, List.copyOf(encoded), length);
    }

    private static List<String> stops(JsonNode root) {
        JsonNode s = present(root, "stop");
        if (s == null) return List.of();
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            if (s.size() > 16) throw ApiError.invalid("stop", "at most 16 stop strings");
            for (JsonNode x : s) {
                if (!x.isTextual()) throw ApiError.invalid("stop", "stop must be a string or an array of strings");
                out.add(x.asText());
            }
        } else {
            throw ApiError.invalid("stop", "stop must be a string or an array of strings");
        }
        for (String x : out) if (x.isEmpty()) throw ApiError.invalid("stop", "stop strings must not be empty");
        return out;
    }

    /** The field, or null when absent or JSON null (null means "default" throughout the API). */
    private static JsonNode present(JsonNode root, String name) {
        JsonNode v = root.get(name);
        return v == null || v.isNull() ? null : v;
    }

    private static String string(JsonNode root, String name) {
        JsonNode v = present(root, name);
        if (v == null) return null;
        if (!v.isTextual()) throw ApiError.invalid(name, name + " must be a string");
        return v.asText();
    }

    private static boolean bool(JsonNode root, String name, boolean dflt) {
        return bool(root, name, dflt, name);
    }

    private static boolean bool(JsonNode root, String name, boolean dflt, String param) {
        JsonNode v = present(root, name);
        if (v == null) return dflt;
        if (!v.isBoolean()) throw ApiError.invalid(param, param + " must be a boolean");
        return v.asBoolean();
    }

    private static double number(JsonNode root, String name, double dflt, double min, double max) {
        JsonNode v = present(root, name);
        if (v == null) return dflt;
        if (!v.isNumber()) throw ApiError.invalid(name, name + " must be a number");
        double d = v.asDouble();
        if (!(d >= min && d <= max)) {
            throw ApiError.invalid(name, name + " must be between " + fmt(min) + " and " + fmt(max) + ", got " + v.asText());
        }
        return d;
    }

    private static String fmt(double d) {
        return d == Double.MIN_VALUE ? "0 (exclusive)" : d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }

    private static Integer optionalInt(JsonNode root, String name, int min, int max) {
        JsonNode v = present(root, name);
        if (v == null) return null;
        return integer(root, name, 0, min, max, name + " must be an integer between " + min + " and " + max);
    }

    private static int integer(JsonNode root, String name, int dflt, int min, int max, String rangeMessage) {
        JsonNode v = present(root, name);
        if (v == null) return dflt;
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw ApiError.invalid(name, name + " must be an integer");
        }
        if (!v.canConvertToLong() || v.asLong() < min || v.asLong() > max) throw ApiError.invalid(name, rangeMessage + ", got " + v.asText());
        return (int) v.asLong();
    }
}
