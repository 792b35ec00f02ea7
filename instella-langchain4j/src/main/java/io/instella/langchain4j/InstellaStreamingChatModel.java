package io.instella.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import io.instella.api.InstellaModel;
import io.instella.api.Response;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * A LangChain4j {@link StreamingChatModel} answered by Instella-VL in this JVM. Messages, images, parameters and
 * concurrency are as for {@link InstellaChatModel}.
 *
 * <p><b>Streaming.</b> {@code chat} returns at once; the answer is computed on another thread (a new daemon
 * thread per request, or the builder's {@link Builder#executor(Executor)}), which calls
 * {@code onPartialResponse} with each piece of text (pieces never split a character), then
 * {@code onCompleteResponse} with the whole answer, token usage and finish reason, or {@code onError} with what
 * went wrong (an unsupported parameter, a bad image, a prompt longer than the context).
 *
 * <p><b>Cancellation.</b> Every partial response comes with a {@link PartialResponseContext} whose
 * {@link StreamingHandle#cancel()} stops the generation: the engine checks it between tokens (and between images
 * and prompt chunks), frees the model for the next caller, and the handler receives no further calls (neither
 * {@code onCompleteResponse} nor {@code onError}), as LangChain4j specifies for cancelled streams. With
 * {@code AiServices}, use {@code TokenStream.onPartialResponseWithContext}.
 */
public final class InstellaStreamingChatModel implements StreamingChatModel, AutoCloseable {
    private final ChatEngine engine;
    private final List<ChatModelListener> listeners;
    private final Executor executor;
    /** Tests: sees each answer as the engine finished it, cancelled ones included. */
    volatile Consumer<Response> finished = r -> {};

    private InstellaStreamingChatModel(Builder b) {
        this.engine = new ChatEngine(b);
        this.listeners = List.copyOf(b.listeners);
        this.executor = b.executor != null ? b.executor
                : task -> Thread.ofPlatform().name("instella-langchain4j-stream").daemon(true).start(task);
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
     * Starts answering the request's last user message and returns; the handler hears the rest.
     *
     * @param request the messages, with parameters already merged with {@link #defaultRequestParameters()}
     * @param handler receives the pieces of the answer, then the complete response or the error
     */
    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(handler, "handler");
        executor.execute(() -> stream(request, handler));
    }

    private void stream(ChatRequest request, StreamingChatResponseHandler handler) {
        Handle handle = new Handle();
        PartialResponseContext context = new PartialResponseContext(handle);
        try {
            ChatEngine.Prepared p = engine.prepare(request);
            Response r = engine.model.generate(p.conversation(), p.options().withCancellation(handle::isCancelled), delta -> {
                if (!handle.isCancelled()) handler.onPartialResponse(new PartialResponse(delta), context);
            });
            finished.accept(r);
            if (handle.isCancelled()) return;
            handler.onCompleteResponse(engine.toChatResponse(r));
        } catch (RuntimeException | Error e) {
            if (handle.isCancelled()) return;
            handler.onError(e instanceof RuntimeException re ? ChatEngine.translate(re) : e);
        }
    }

    /** Cancellation requested by the caller; polled by the engine between tokens. */
    private static final class Handle implements StreamingHandle {
        private volatile boolean cancelled;

        @Override
        public void cancel() {
            cancelled = true;
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
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

    /** Builds an {@link InstellaStreamingChatModel}; see {@link InstellaModelBuilder} for the settings. */
    public static final class Builder extends InstellaModelBuilder<Builder> {
        private Executor executor;

        private Builder() {}

        /**
         * Where answers are computed; default: a new daemon thread per request. Generation holds the model (one
         * answer at a time per model), so a small pool is plenty.
         *
         * @param executor runs one task per request
         * @return this builder
         */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Loads the model (when given a path or repo id) and builds the streaming chat model.
         *
         * @return the streaming chat model
         * @throws io.instella.api.InstellaApiException when the model cannot be found, downloaded or read
         */
        public InstellaStreamingChatModel build() {
            return new InstellaStreamingChatModel(this);
        }
    }
}
