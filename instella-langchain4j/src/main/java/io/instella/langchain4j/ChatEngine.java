package io.instella.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.TokenUsage;
import io.instella.api.Conversation;
import io.instella.api.GenerateOptions;
import io.instella.api.Image;
import io.instella.api.InstellaApiException;
import io.instella.api.InstellaModel;
import io.instella.api.Response;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What {@link InstellaChatModel} and {@link InstellaStreamingChatModel} share: the model, the default
 * parameters, turning a LangChain4j {@link ChatRequest} into a {@link Conversation} and {@link GenerateOptions},
 * and an answer into a {@link ChatResponse}.
 */
final class ChatEngine implements AutoCloseable {
    final InstellaModel model;
    private final boolean owned;
    final InstellaChatRequestParameters defaults;
    private final ImageLoader images;

    /** A request ready for {@link InstellaModel#generate}. */
    record Prepared(Conversation conversation, GenerateOptions options) {}

    ChatEngine(InstellaModelBuilder<?> b) {
        InstellaChatRequestParameters d = b.defaults("instella");
        ImageLoader loader = new ImageLoader(b.allowedImageHosts, b.imageFetchTimeout, b.maxImageBytes);
        options(d);   // refuse invalid builder settings now, not at the first request
        InstellaModelBuilder.ResolvedModel resolved = b.resolveModel();
        this.model = resolved.model();
        this.owned = resolved.owned();
        this.defaults = InstellaChatRequestParameters.builder().overrideWith(d).modelName(model.name()).build();
        this.images = loader;
    }

    Prepared prepare(ChatRequest request) {
        return new Prepared(conversation(request.messages()), options(request.parameters()));
    }

    /** The answer as LangChain4j's response: text, token usage (prompt positions incl. image tokens) and finish reason. */
    ChatResponse toChatResponse(Response r) {
        int prompt = r.stats().promptTokens();
        int generated = r.tokenIds().length;
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(r.text()))
                .modelName(model.name())
                .tokenUsage(new TokenUsage(prompt, generated, prompt + generated))
                .finishReason(switch (r.finishReason()) {
                    case STOP -> dev.langchain4j.model.output.FinishReason.STOP;
                    case LENGTH -> dev.langchain4j.model.output.FinishReason.LENGTH;
                    case CANCELLED -> dev.langchain4j.model.output.FinishReason.OTHER;
                })
                .build();
    }

    /** The engine's user-facing failures (prompt longer than the context, ...) as LangChain4j's request error. */
    static RuntimeException translate(RuntimeException e) {
        if (e instanceof InstellaApiException || e instanceof IllegalArgumentException || e instanceof IllegalStateException) {
            return new InvalidRequestException(e.getMessage(), e);
        }
        return e;
    }

    GenerateOptions options(ChatRequestParameters p) {
        if (p == null) p = defaults;
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("Instella does not call tools: the request has " + p.toolSpecifications().size()
                    + " tool specification(s); remove the tools (AiServices.tools(...)) for this model");
        }
        if (p.toolChoice() == ToolChoice.REQUIRED) {
            throw new UnsupportedFeatureException("Instella does not call tools: toolChoice REQUIRED cannot be honoured");
        }
        if (p.responseFormat() != null && p.responseFormat().type() != ResponseFormatType.TEXT) {
            throw new UnsupportedFeatureException("Instella answers in plain text: response format " + p.responseFormat().type()
                    + (p.responseFormat().jsonSchema() != null ? " with a JSON schema" : "") + " is not supported");
        }
        if (p.frequencyPenalty() != null && p.frequencyPenalty() != 0) {
            throw new UnsupportedFeatureException("frequencyPenalty is not supported by Instella (got " + p.frequencyPenalty()
                    + "); leave it unset");
        }
        if (p.presencePenalty() != null && p.presencePenalty() != 0) {
            throw new UnsupportedFeatureException("presencePenalty is not supported by Instella (got " + p.presencePenalty()
                    + "); leave it unset");
        }
        if (p.modelName() != null && model() != null && !p.modelName().equals(model().name())) {
            throw new InvalidRequestException("this chat model serves '" + model().name() + "'; the request names model '"
                    + p.modelName() + "' (leave modelName unset)");
        }
        try {
            // No repetition penalty, whatever the model's generation config says: as `instella generate`.
            GenerateOptions o = GenerateOptions.defaults().withRepetitionPenalty(1.0);
            if (p.temperature() != null) o = o.withTemperature(p.temperature());
            if (p.topP() != null) o = o.withTopP(p.topP());
            if (p.topK() != null) o = o.withTopK(p.topK());
            if (p.maxOutputTokens() != null) o = o.withMaxNewTokens(p.maxOutputTokens());
            if (p.stopSequences() != null && !p.stopSequences().isEmpty()) o = o.withStop(p.stopSequences().toArray(String[]::new));
            if (p instanceof InstellaChatRequestParameters ip && ip.seed() != null) o = o.withSeed(ip.seed());
            return o;
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("invalid request parameter: " + e.getMessage(), e);
        }
    }

    private InstellaModel model() {
        return model;
    }

    /** One turn being assembled; consecutive messages of one role merge into it. */
    private static final class Turn {
        final Conversation.Role role;
        final StringBuilder text = new StringBuilder();
        final List<Image> images = new ArrayList<>();

        Turn(Conversation.Role role) {
            this.role = role;
        }

        void addText(String s) {
            if (s == null || s.isEmpty()) return;
            if (!text.isEmpty()) text.append('\n');
            text.append(s);
        }
    }

    /**
     * System text first, then user and assistant turns. Consecutive user (or assistant) messages merge into one
     * turn (texts joined by a line break), since Instella's template needs the two roles to alternate and a chat
     * memory may hold two user messages in a row (a question whose answer failed). Within a user turn the model
     * sees the images before the text, whatever the order of the contents (Instella's template).
     */
    Conversation conversation(List<ChatMessage> messages) {
        if (messages == null || messages.isEmpty()) throw new InvalidRequestException("the request has no messages");
        List<Turn> turns = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            String where = "messages[" + i + "]";
            Objects.requireNonNull(m, where);
            switch (m) {
                case SystemMessage s -> {
                    if (turns.stream().anyMatch(t -> t.role != Conversation.Role.SYSTEM)) {
                        throw new InvalidRequestException(where + " is a system message after the conversation started; "
                                + "Instella's template has no system slot, so system text must come before the first user message");
                    }
                    turn(turns, Conversation.Role.SYSTEM).addText(s.text());
                }
                case UserMessage u -> {
                    Turn t = turn(turns, Conversation.Role.USER);
                    int imageNo = 0;
                    for (Content c : u.contents()) {
                        switch (c) {
                            case TextContent text -> t.addText(text.text());
                            case ImageContent image -> t.images.add(images.load(image, where + " image " + (++imageNo)));
                            default -> throw new UnsupportedFeatureException(where + " has " + c.type().name().toLowerCase()
                                    + " content; Instella takes text and images only");
                        }
                    }
                }
                case AiMessage a -> {
                    if (a.hasToolExecutionRequests()) {
                        throw new UnsupportedFeatureException(where + " is an AI message with tool calls; Instella does not call tools");
                    }
                    if (turns.stream().noneMatch(t -> t.role == Conversation.Role.USER)) {
                        throw new InvalidRequestException(where + " is an AI message before any user message; "
                                + "the conversation must start with a user message (after optional system text)");
                    }
                    turn(turns, Conversation.Role.ASSISTANT).addText(a.text());
                }
                default -> throw new UnsupportedFeatureException(where + " is a " + m.type() + " message; Instella takes "
                        + "system, user and AI messages only" + (m.type().name().startsWith("TOOL") ? " (it does not call tools)" : ""));
            }
        }
        if (turns.getLast().role != Conversation.Role.USER) {
            throw new InvalidRequestException("the last message must be a user message (the question to answer); it is "
                    + (turns.getLast().role == Conversation.Role.SYSTEM ? "a system message" : "an AI message"));
        }
        Conversation c = Conversation.create();
        for (Turn t : turns) {
            switch (t.role) {
                case SYSTEM -> c.system(t.text.toString());
                case USER -> c.user(t.text.toString(), t.images);
                case ASSISTANT -> c.assistant(t.text.toString());
            }
        }
        return c;
    }

    private static Turn turn(List<Turn> turns, Conversation.Role role) {
        if (turns.isEmpty() || turns.getLast().role != role) turns.add(new Turn(role));
        return turns.getLast();
    }

    @Override
    public void close() {
        if (owned) model.close();
    }
}
