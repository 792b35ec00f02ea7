package io.instella.api;

import io.instella.model.EncodedImage;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.config.GenerationDefaults;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.Generator;
import io.instella.model.lm.KVCache;
import io.instella.model.source.ModelSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An Instella-VL model, loaded and ready to answer. This is the entry point of the public API
 * ({@code io.instella.api}); everything under {@code io.instella.model} and {@code io.instella.core} is internal.
 *
 * <pre>{@code
 * try (InstellaModel model = InstellaModel.load("amd/Instella-VL-1B")) {
 *     Conversation chat = Conversation.create()
 *             .user("Describe this image.", Image.fromPath(Path.of("examples/shapes.png")));
 *     Response answer = model.generate(chat, GenerateOptions.defaults().withMaxNewTokens(200), System.out::print);
 *     chat.assistant(answer.text());
 * }
 * }</pre>
 *
 * <p><b>Conversations.</b> The model remembers the prompt of its last answer: when the next prompt starts with it
 * (the same conversation, one turn longer) only the new part runs through the model, and images it has seen are
 * not encoded again. Any other prompt simply starts afresh. One model serves one generation at a time
 * ({@code generate} is synchronized); load the model once per concurrent user if you need more.
 *
 * <p>Weights are memory-mapped, not copied: {@link #close()} releases them.
 */
public final class InstellaModel implements AutoCloseable {
    /** Answer budget when neither the caller nor the model's generation config sets one (the upstream README's). */
    public static final int DEFAULT_MAX_NEW_TOKENS = 1024;

    private final String name;
    private final InstellaVL vl;
    private final Generator generator;
    private final int contextLength;
    private final double loadMillis;

    // What the key/value cache holds: the ids (with -200 per image) and images of the last prompt, then the
    // generated tokens that were fed back. Only the first cache.length() positions are valid.
    private KVCache cache;
    private int[] cachedIds = new int[0];
    private List<EncodedImage> cachedImages = List.of();
    private Map<Image, EncodedImage> encodedImages = new IdentityHashMap<>();
    private boolean closed;

    private InstellaModel(String name, InstellaVL vl, int contextLength, double loadMillis) {
        this.name = name;
        this.vl = vl;
        this.generator = new Generator(vl);
        this.contextLength = contextLength;
        this.loadMillis = loadMillis;
    }

    /**
     * Loads a model from a local directory (Hugging Face layout: config.json, model.safetensors, tokenizer.json)
     * or from a Hugging Face Hub repo id, {@code org/name} or {@code org/name@revision}, downloading the files it
     * needs into the standard Hugging Face cache ({@code HF_HOME}, {@code HF_HUB_CACHE}, {@code HF_HUB_OFFLINE}
     * and {@code HF_TOKEN} are honoured). An existing local path wins over a repo id of the same spelling.
     *
     * @param modelDirOrRepoId a local directory, or a Hub repo id with an optional {@code @revision}
     * @return the loaded model; close it to release the weights
     * @throws InstellaApiException when the model cannot be found, downloaded or read
     */
    public static InstellaModel load(String modelDirOrRepoId) {
        return load(modelDirOrRepoId, LoadOptions.defaults());
    }

    /**
     * {@link #load(String)} with download progress, context length, quantization and adapter settings.
     *
     * @param modelDirOrRepoId a local directory, or a Hub repo id with an optional {@code @revision}
     * @param options          how to load
     * @return the loaded model; close it to release the weights
     * @throws InstellaApiException when the model cannot be found, downloaded or read
     */
    public static InstellaModel load(String modelDirOrRepoId, LoadOptions options) {
        Objects.requireNonNull(modelDirOrRepoId, "modelDirOrRepoId");
        Objects.requireNonNull(options, "options");
        try {
            requireVectorModule();
            ModelSource source = ModelSource.parse(modelDirOrRepoId);
            Path dir = source.resolve(ModelSource.Need.MODEL, options.downloadListener());
            return open(modelDirOrRepoId, dir, options);
        } catch (RuntimeException e) {
            throw Errors.wrap(e);
        }
    }

    /**
     * Loads a model from a local directory.
     *
     * @param directory the checkpoint folder (Hugging Face layout)
     * @return the loaded model; close it to release the weights
     * @throws InstellaApiException when the model cannot be read
     */
    public static InstellaModel load(Path directory) {
        Objects.requireNonNull(directory, "directory");
        try {
            requireVectorModule();
            return open(directory.toString(), directory, LoadOptions.defaults());
        } catch (RuntimeException e) {
            throw Errors.wrap(e);
        }
    }

    /** Without the flag the first kernel fails with a NoClassDefFoundError deep inside; say what to do instead. */
    private static void requireVectorModule() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            throw new InstellaApiException("the Instella engine needs the Vector API: start the JVM with "
                    + "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED "
                    + "(Maven: exec-maven-plugin arguments and surefire's argLine; Gradle: applicationDefaultJvmArgs "
                    + "and the test task's jvmArgs)");
        }
    }

    private static InstellaModel open(String name, Path dir, LoadOptions options) {
        long t0 = System.nanoTime();
        InstellaVL vl = InstellaVL.load(dir, options.quantization() == null ? null : InstellaVL.quantization(options.quantization()),
                io.instella.model.lora.LoraAdapter.atLoad(options.lora()));
        if (options.kvCache() != null) vl.languageModel().setCacheType(InstellaVL.kvCacheType(options.kvCache()));
        int ctx = options.contextLength() != null ? options.contextLength() : vl.contextLength();
        return new InstellaModel(name, vl, ctx, (System.nanoTime() - t0) / 1e6);
    }

    /**
     * The model as it was named to {@code load}.
     *
     * @return the directory or repo id given
     */
    public String name() { return name; }

    /**
     * The local checkpoint folder (for a repo id, its snapshot in the Hugging Face cache).
     *
     * @return the folder
     */
    public Path directory() { return vl.directory(); }

    /**
     * Tokens of context: prompt (text and image tokens) plus answer.
     *
     * @return the context length
     */
    public int contextLength() { return contextLength; }

    /**
     * Whether the model has a vision tower (Instella-VL does; a text-only OLMo checkpoint does not).
     *
     * @return true when it takes images
     */
    public boolean supportsImages() { return vl.supportsImages(); }

    /**
     * How long opening the checkpoint took, in milliseconds (downloads not included).
     *
     * @return the load time
     */
    public double loadMillis() { return loadMillis; }

    /**
     * Prompt positions an image takes (anyres tiling: 576 for the base tile plus the grid rows).
     *
     * @param image the image
     * @return its number of prompt positions
     */
    public int imageTokens(Image image) {
        Objects.requireNonNull(image, "image");
        try {
            return vl.imageTokenCount(image.width(), image.height());
        } catch (RuntimeException e) {
            throw Errors.wrap(e);
        }
    }

    /**
     * Answers the conversation's last user turn with the default options.
     *
     * @param conversation a conversation ending with a user turn
     * @return the answer
     * @throws IllegalArgumentException when the conversation does not end with a user turn
     * @throws InstellaApiException     when the prompt does not fit the context, or the model cannot take images
     */
    public Response generate(Conversation conversation) {
        return generate(conversation, GenerateOptions.defaults(), null);
    }

    /**
     * Answers the conversation's last user turn.
     *
     * @param conversation a conversation ending with a user turn
     * @param options      decoding settings
     * @return the answer
     * @throws IllegalArgumentException when the conversation does not end with a user turn
     * @throws InstellaApiException     when the prompt does not fit the context, or the model cannot take images
     */
    public Response generate(Conversation conversation, GenerateOptions options) {
        return generate(conversation, options, null);
    }

    /**
     * Answers the conversation's last user turn, streaming the answer to {@code listener} (may be null). The
     * conversation is not changed: add the answer with {@link Conversation#assistant}. Calls are serialized
     * (the method is synchronized): one answer at a time per model, each using all cores.
     *
     * @param conversation a conversation ending with a user turn
     * @param options      decoding settings
     * @param listener     receives the answer while it is produced, on this thread (null: none)
     * @return the answer
     * @throws IllegalArgumentException when the conversation does not end with a user turn
     * @throws InstellaApiException     when the prompt does not fit the context, or the model cannot take images
     */
    public synchronized Response generate(Conversation conversation, GenerateOptions options, GenerationListener listener) {
        Objects.requireNonNull(conversation, "conversation");
        Objects.requireNonNull(options, "options");
        if (closed) throw new IllegalStateException("the model is closed");
        List<Conversation.Turn> turns = conversation.turns();
        if (turns.isEmpty() || turns.getLast().role() != Conversation.Role.USER) {
            throw new IllegalArgumentException("the conversation must end with a user turn (the question to answer)");
        }
        GenerationListener out = listener != null ? listener : delta -> {};
        try {
            return answer(turns, options, out);
        } catch (RuntimeException e) {
            // The cache may hold a half-computed prompt; start the next answer afresh.
            forgetCache();
            throw Errors.wrap(e);
        }
    }

    private Response answer(List<Conversation.Turn> turns, GenerateOptions options, GenerationListener out) {
        List<ChatMessage> messages = new ArrayList<>();
        List<Image> images = new ArrayList<>();
        for (Conversation.Turn t : turns) {
            messages.add(new ChatMessage(switch (t.role()) {
                case SYSTEM -> ChatMessage.Role.SYSTEM;
                case USER -> ChatMessage.Role.USER;
                case ASSISTANT -> ChatMessage.Role.ASSISTANT;
            }, t.text(), t.images().size()));
            images.addAll(t.images());
        }
        String promptText = ChatTemplate.render(messages, true);
        if (!images.isEmpty() && !vl.supportsImages()) {
            throw new InstellaApiException(name + " has no vision tower (text-only config); it cannot take images");
        }

        // Images: encode the ones this model has not seen in the conversation yet.
        Map<Image, EncodedImage> known = new IdentityHashMap<>();
        List<EncodedImage> encoded = new ArrayList<>();
        int toEncode = (int) images.stream().distinct().filter(i -> !encodedImages.containsKey(i)).count();
        int done = 0;
        double visionMillis = 0;
        if (toEncode > 0) out.onImageEncoded(0, toEncode);
        for (Image img : images) {
            EncodedImage e = known.get(img);
            if (e == null) e = encodedImages.get(img);
            if (e == null) {
                if (options.cancellation() != null && options.cancellation().getAsBoolean()) {
                    // Stopped while images were encoded (each takes seconds on a CPU); keep the ones done.
                    encodedImages.putAll(known);
                    return new Response("", new int[0], FinishReason.CANCELLED,
                            new Response.Stats(0, 0, 0, done, visionMillis, 0, 0, 0));
                }
                e = vl.encodeImage(img.pixels());
                visionMillis += e.millis();
                out.onImageEncoded(++done, toEncode);
            }
            known.put(img, e);
            encoded.add(e);
        }
        encodedImages = known;

        PreparedPrompt prompt = vl.prepareEncoded(promptText, encoded);
        int L = prompt.sequenceLength();
        GenerationOptions gen = internalOptions(options, L);
        generator.checkContext(prompt, gen.maxNewTokens(), contextLength);
        if (cache == null || cache.maxLength() != contextLength) {
            cache = vl.languageModel().newCache(contextLength);
            cachedIds = new int[0];
            cachedImages = List.of();
        }
        int reused = Math.min(Math.min(commonPrefix(prompt), cache.length()), L - 1);
        cache.truncate(reused);

        GenerationResult r = generator.generate(prompt, gen, (id, delta) -> {
            if (!delta.isEmpty()) out.onText(delta);
        }, cache, out::onPromptProgress);

        // Remember what the cache now holds for the next turn.
        int fed = Math.max(0, cache.length() - L);
        int[] ids = java.util.Arrays.copyOf(prompt.inputIds(), prompt.inputIds().length + fed);
        System.arraycopy(r.completionIds(), 0, ids, prompt.inputIds().length, Math.min(fed, r.completionIds().length));
        cachedIds = ids;
        cachedImages = prompt.images();

        FinishReason reason = switch (r.finishReason()) {
            case STOP -> FinishReason.STOP;
            case LENGTH -> FinishReason.LENGTH;
            case CANCELLED -> FinishReason.CANCELLED;
        };
        Response.Stats stats = new Response.Stats(L, reused, prompt.numImageTokens(), done, visionMillis,
                r.prefillMillis(), r.decodeMillis(), r.completionIds().length);
        return new Response(r.text(), r.completionIds(), reason, stats);
    }

    /** Positions at the start of {@code prompt} that equal what the cache was filled from. */
    private int commonPrefix(PreparedPrompt prompt) {
        int[] ids = prompt.inputIds();
        int positions = 0, image = 0;
        for (int i = 0; i < ids.length && i < cachedIds.length; i++) {
            if (ids[i] != cachedIds[i]) break;
            if (ids[i] == PreparedPrompt.IMAGE_TOKEN_INDEX) {
                if (image >= cachedImages.size() || prompt.images().get(image) != cachedImages.get(image)) break;
                positions += prompt.images().get(image).tokens();
                image++;
            } else {
                positions++;
            }
        }
        return positions;
    }

    private GenerationOptions internalOptions(GenerateOptions o, int promptLength) {
        GenerationDefaults d = vl.generationDefaults();
        int maxNew;
        if (o.maxNewTokens() != null) {
            maxNew = o.maxNewTokens();
        } else {
            maxNew = d.maxNewTokens() != null ? d.maxNewTokens() : DEFAULT_MAX_NEW_TOKENS;
            maxNew = Math.max(1, Math.min(maxNew, contextLength - promptLength));
        }
        double temperature = o.temperature() != null ? o.temperature() : d.doSample() ? d.temperature() : 0.0;
        return GenerationOptions.builder()
                .maxNewTokens(maxNew)
                .temperature(temperature)
                .topK(o.topK() != null ? o.topK() : d.topK())
                .topP(o.topP() != null ? o.topP() : d.topP())
                .minP(o.minP() != null ? o.minP() : 0.0)
                .repetitionPenalty(o.repetitionPenalty() != null ? o.repetitionPenalty() : d.repetitionPenalty())
                .seed(o.seed())
                .stopStrings(o.stop())
                .ignoreEos(o.ignoreEos())
                .cancelled(o.cancellation())
                .build();
    }

    private void forgetCache() {
        if (cache != null) cache.clear();
        cachedIds = new int[0];
        cachedImages = List.of();
    }

    /** Releases the weights (unmaps the checkpoint) and the cache. The model cannot be used afterwards. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        cache = null;
        encodedImages = new IdentityHashMap<>();
        vl.close();
    }
}
