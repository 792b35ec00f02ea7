package io.instella.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.instella.api.InstellaModel;
import io.instella.api.Response;

import java.util.List;

/**
 * A LangChain4j {@link ChatModel} answered by Instella-VL in this JVM: no server, no port; images travel as
 * LangChain4j {@link dev.langchain4j.data.message.ImageContent}.
 *
 * <pre>{@code
 * ChatModel model = InstellaChatModel.builder()
 *         .modelPath(Path.of("models/Instella-VL-1B"))
 *         .temperature(0.0)
 *         .maxOutputTokens(200)
 *         .build();
 * ChatResponse r = model.chat(ChatRequest.builder().messages(UserMessage.from(
 *         ImageContent.from(base64Png, "image/png"), TextContent.from("Describe this image."))).build());
 * System.out.println(r.aiMessage().text());
 * }</pre>
 *
 * <p><b>Messages.</b> System, user and AI messages; system text goes before the first user turn (Instella's
 * template has no system slot). User messages take text and images: base64 data, {@code data:} URLs,
 * {@code file:} URLs and local paths always, {@code http(s)} URLs only from hosts allowed with
 * {@link InstellaModelBuilder#allowedImageHosts(String...)}. Images come before the text in a turn, as
 * {@code instella generate --image ... --prompt ...} puts them, so a greedy answer is the same as the CLI's. The
 * image's detail level is ignored (Instella always tiles at its own resolution).
 *
 * <p><b>Parameters.</b> Temperature, top-p, top-k, max output tokens, stop sequences and (with
 * {@link InstellaChatRequestParameters}) a seed. Tools, tool choice REQUIRED, JSON response formats and non-zero
 * frequency or presence penalties are refused with an {@link dev.langchain4j.exception.UnsupportedFeatureException}.
 * The response carries the token usage (input: every prompt position, image tokens included; output: generated
 * tokens) and the finish reason (STOP or LENGTH).
 *
 * <p><b>Concurrency.</b> Thread-safe. One {@link InstellaModel} computes one answer at a time, using all cores
 * ({@link InstellaModel#generate} is synchronized): concurrent calls, from this object or from others sharing the
 * model through {@link InstellaModelBuilder#model(InstellaModel)}, wait their turn. The model keeps the prompt of its
 * last answer, so the next turn of the same conversation only computes its new part; interleaved conversations
 * from several callers each start afresh.
 */
public final class InstellaChatModel implements ChatModel, AutoCloseable {
    private final ChatEngine engine;
    private final List<ChatModelListener> listeners;

    private InstellaChatModel(Builder b) {
        this.engine = new ChatEngine(b);
        this.listeners = List.copyOf(b.listeners);
    }

    /**
     * A builder; give it a model with {@code modelPath}, {@code model(String)} or {@code model(InstellaModel)}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Answers the request's last user message.
     *
     * @param request the messages, with parameters already merged with {@link #defaultRequestParameters()}
     * @return the answer, its token usage and finish reason
     * @throws dev.langchain4j.exception.UnsupportedFeatureException for tools, JSON formats, penalties, audio ...
     * @throws dev.langchain4j.exception.InvalidRequestException     for messages out of order, unreadable or
     *                                                               disallowed images, a prompt longer than the context
     */
    @Override
    public ChatResponse doChat(ChatRequest request) {
        try {
            ChatEngine.Prepared p = engine.prepare(request);
            Response r = engine.model.generate(p.conversation(), p.options());
            return engine.toChatResponse(r);
        } catch (RuntimeException e) {
            throw ChatEngine.translate(e);
        }
    }

    /**
     * The builder's sampling settings, as an {@link InstellaChatRequestParameters}; a request's own parameters
     * override them.
     *
     * @return the default parameters
     */
    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return engine.defaults;
    }

    /**
     * The listeners given to the builder.
     *
     * @return the listeners
     */
    @Override
    public List<ChatModelListener> listeners() {
        return listeners;
    }

    /**
     * The engine answering the requests (shared or owned).
     *
     * @return the model
     */
    public InstellaModel model() {
        return engine.model;
    }

    /** Closes the model when this chat model loaded it (modelPath or model(String)); a shared model stays open. */
    @Override
    public void close() {
        engine.close();
    }

    /** Builds an {@link InstellaChatModel}; see {@link InstellaModelBuilder} for the settings. */
    public static final class Builder extends InstellaModelBuilder<Builder> {
        private Builder() {}

        /**
         * Loads the model (when given a path or repo id) and builds the chat model.
         *
         * @return the chat model
         * @throws io.instella.api.InstellaApiException when the model cannot be found, downloaded or read
         */
        public InstellaChatModel build() {
            return new InstellaChatModel(this);
        }
    }
}
