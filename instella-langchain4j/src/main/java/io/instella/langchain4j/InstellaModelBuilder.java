package io.instella.langchain4j;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import io.instella.api.InstellaModel;
import io.instella.api.LoadOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The settings shared by {@link InstellaChatModel#builder()} and {@link InstellaStreamingChatModel#builder()}.
 *
 * <p>The model comes from exactly one of {@link #modelPath(Path)}, {@link #model(String)} or
 * {@link #model(InstellaModel)}. The sampling settings become the model's default request parameters; a
 * {@code ChatRequest}'s own parameters override them. Left unset, a setting takes the model's
 * {@code generation_config.json} value (Instella-VL-1B: greedy, up to 1024 new tokens); there is never a
 * repetition penalty, as with {@code instella generate}.
 *
 * @param <B> the concrete builder, returned by every setter
 */
public abstract class InstellaModelBuilder<B extends InstellaModelBuilder<B>> {
    InstellaModel model;
    String modelSource;
    LoadOptions loadOptions = LoadOptions.defaults();
    Double temperature;
    Double topP;
    Integer topK;
    Integer maxOutputTokens;
    List<String> stopSequences;
    Long seed;
    final List<String> allowedImageHosts = new ArrayList<>();
    Duration imageFetchTimeout = Duration.ofSeconds(30);
    long maxImageBytes = 20L << 20;
    final List<ChatModelListener> listeners = new ArrayList<>();

    InstellaModelBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /**
     * Loads the model from a local directory in Hugging Face layout ({@code config.json},
     * {@code model.safetensors}, {@code tokenizer.json}) when {@code build()} is called. The built chat model
     * owns it: close the chat model to release the weights.
     *
     * @param directory the checkpoint folder
     * @return this builder
     */
    public B modelPath(Path directory) {
        Objects.requireNonNull(directory, "directory");
        return model(directory.toString());
    }

    /**
     * Loads the model from a local directory or a Hugging Face Hub repo id ({@code org/name} or
     * {@code org/name@revision}, downloaded into the Hugging Face cache) when {@code build()} is called. The
     * built chat model owns it: close the chat model to release the weights.
     *
     * @param directoryOrRepoId a checkpoint folder or a Hub repo id
     * @return this builder
     */
    public B model(String directoryOrRepoId) {
        Objects.requireNonNull(directoryOrRepoId, "directoryOrRepoId");
        this.modelSource = directoryOrRepoId;
        this.model = null;
        return self();
    }

    /**
     * Uses a model that is already loaded, for instance one shared by a {@link InstellaChatModel} and a
     * {@link InstellaStreamingChatModel}, or by many services. The caller keeps ownership: closing the chat
     * model does not close it.
     *
     * <p>{@link InstellaModel#generate} is synchronized: one answer at a time per model, each using all
     * cores; concurrent calls wait their turn.
     *
     * @param loaded the model
     * @return this builder
     */
    public B model(InstellaModel loaded) {
        this.model = Objects.requireNonNull(loaded, "loaded");
        this.modelSource = null;
        return self();
    }

    /**
     * How {@link #modelPath(Path)} or {@link #model(String)} loads the model (download progress, context
     * length, quantization, key/value cache type, LoRA adapter).
     *
     * @param options the load options; not used with {@link #model(InstellaModel)}
     * @return this builder
     */
    public B loadOptions(LoadOptions options) {
        this.loadOptions = Objects.requireNonNull(options, "options");
        return self();
    }

    /**
     * Sampling temperature; 0 is greedy decoding.
     *
     * @param temperature 0 or more; null: the model's default
     * @return this builder
     */
    public B temperature(Double temperature) {
        this.temperature = temperature;
        return self();
    }

    /**
     * Nucleus sampling: keep the smallest set of tokens whose probabilities add up to {@code topP}.
     *
     * @param topP in (0, 1], 1 is off; null: the model's default
     * @return this builder
     */
    public B topP(Double topP) {
        this.topP = topP;
        return self();
    }

    /**
     * Sample among the {@code topK} most likely tokens.
     *
     * @param topK 0 is off; null: the model's default
     * @return this builder
     */
    public B topK(Integer topK) {
        this.topK = topK;
        return self();
    }

    /**
     * Tokens to generate at most.
     *
     * @param maxOutputTokens 0 or more; null: the model's default (1024, capped to the context)
     * @return this builder
     */
    public B maxOutputTokens(Integer maxOutputTokens) {
        this.maxOutputTokens = maxOutputTokens;
        return self();
    }

    /**
     * Strings that end the answer; the answer is cut before the first one produced.
     *
     * @param stopSequences non-empty strings; null: none
     * @return this builder
     */
    public B stopSequences(List<String> stopSequences) {
        this.stopSequences = stopSequences == null ? null : List.copyOf(stopSequences);
        return self();
    }

    /**
     * Strings that end the answer; the answer is cut before the first one produced.
     *
     * @param stopSequences non-empty strings
     * @return this builder
     */
    public B stopSequences(String... stopSequences) {
        return stopSequences(Arrays.asList(stopSequences));
    }

    /**
     * Sampling seed, for answers that repeat from run to run (sampling only; greedy decoding needs none).
     * A request can set its own with {@link InstellaChatRequestParameters}.
     *
     * @param seed the seed; null: random
     * @return this builder
     */
    public B seed(Long seed) {
        this.seed = seed;
        return self();
    }

    /**
     * Hosts whose {@code http://} and {@code https://} image URLs may be fetched. Without any, only base64
     * images, {@code data:} URLs, {@code file:} URLs and local paths are accepted: fetching any URL a prompt
     * names would let whoever writes the prompt make this process call into its own network. A pattern is a
     * host name ({@code images.example.com}) or {@code *.example.com} for its subdomains. Redirects are not
     * followed.
     *
     * @param hosts host names or {@code *.} patterns
     * @return this builder
     */
    public B allowedImageHosts(Collection<String> hosts) {
        for (String h : hosts) {
            Objects.requireNonNull(h, "host");
            if (h.isBlank()) throw new IllegalArgumentException("an allowed image host must not be blank");
            allowedImageHosts.add(h.toLowerCase(Locale.ROOT));
        }
        return self();
    }

    /**
     * Hosts whose {@code http(s)} image URLs may be fetched; see {@link #allowedImageHosts(Collection)}.
     *
     * @param hosts host names or {@code *.} patterns
     * @return this builder
     */
    public B allowedImageHosts(String... hosts) {
        return allowedImageHosts(Arrays.asList(hosts));
    }

    /**
     * Time limit for fetching one image from an allowed host.
     *
     * @param timeout the limit; default 30 seconds
     * @return this builder
     */
    public B imageFetchTimeout(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("imageFetchTimeout must be positive");
        this.imageFetchTimeout = timeout;
        return self();
    }

    /**
     * Size limit for one image fetched from an allowed host.
     *
     * @param bytes the limit; default 20 MiB
     * @return this builder
     */
    public B maxImageBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("maxImageBytes must be positive, got " + bytes);
        this.maxImageBytes = bytes;
        return self();
    }

    /**
     * LangChain4j listeners told of every request, response and error.
     *
     * @param listeners the listeners
     * @return this builder
     */
    public B listeners(List<ChatModelListener> listeners) {
        this.listeners.addAll(listeners);
        return self();
    }

    /** The model to use, loaded now when the builder was given a path or repo id; and whether it is ours. */
    record ResolvedModel(InstellaModel model, boolean owned) {}

    ResolvedModel resolveModel() {
        if (model != null) return new ResolvedModel(model, false);
        requireVectorModule();
        if (modelSource == null) {
            throw new IllegalStateException("no model: call modelPath(Path), model(String repoIdOrDirectory) or "
                    + "model(InstellaModel) on the builder");
        }
        return new ResolvedModel(InstellaModel.load(modelSource, loadOptions), true);
    }

    /** Without the flag the engine's first kernel fails with a NoClassDefFoundError; say what to do instead. */
    static void requireVectorModule() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            throw new IllegalStateException("the Instella engine needs the Vector API: start the JVM with "
                    + "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED "
                    + "(Maven: exec-maven-plugin's exec:exec arguments and surefire's argLine; Gradle: "
                    + "applicationDefaultJvmArgs and the test task's jvmArgs; see instella-langchain4j/README.md)");
        }
    }

    InstellaChatRequestParameters defaults(String modelName) {
        return InstellaChatRequestParameters.builder()
                .modelName(modelName)
                .temperature(temperature)
                .topP(topP)
                .topK(topK)
                .maxOutputTokens(maxOutputTokens)
                .stopSequences(stopSequences)
                .seed(seed)
                .build();
    }
}
