package io.instella.cli;

import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.server.MemoryPlan;
import io.instella.server.InstellaServer;
import io.instella.server.ServerOptions;
import io.instella.model.source.ModelSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code instella serve}: the OpenAI-compatible HTTP server and chat page. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions with images, "
                + "/v1/completions, /v1/models, /health, /metrics) and a chat page at /.")
public final class ServeCommand implements Callable<Integer> {
    /** The server's smallest context per sequence (ServerOptions refuses less). */
    static final int MIN_CONTEXT = 16;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Interface to listen on (default: ${DEFAULT-VALUE}; "
            + "0.0.0.0 exposes the server to the network).")
    String host;

    @Option(names = "--port", defaultValue = "8080", converter = OptionValues.Port.class, description = "TCP port (default: ${DEFAULT-VALUE}; 0 = any free port).")
    int port;

    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' on /v1/* and /metrics "
            + "(default: the INSTELLA_API_KEY environment variable, else no key).")
    String apiKey;

    @Option(names = "--model-name", description = "Model id reported by /v1/models and accepted in requests "
            + "(default: the model directory's name).")
    String modelName;

    @Option(names = "--parallel", defaultValue = "4", converter = OptionValues.Positive.class, description = "Sequences decoded together in one batch (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--queue", converter = OptionValues.NonNegative.class, defaultValue = "64", description = "Requests that may wait for a slot before 429 (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--max-tokens-default", converter = OptionValues.Positive.class, defaultValue = "2048",
            description = "Completion budget of a chat request that sets none (default: ${DEFAULT-VALUE}, capped by the context).")
    int defaultMaxTokens;

    @Option(names = "--timeout", converter = OptionValues.PositiveLong.class, defaultValue = "600", description = "Seconds a request may take before it is cancelled with 504 (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds;

    @Option(names = "--max-body-mb", converter = OptionValues.Mebibytes.class, defaultValue = "20", description = "Largest request body in MiB (default: ${DEFAULT-VALUE}).")
    long maxBodyMb;

    @Option(names = "--max-image-pixels", converter = OptionValues.PositiveLong.class, defaultValue = "25000000", description = "Largest image, width x height (default: ${DEFAULT-VALUE}).")
    long maxImagePixels;

    @Option(names = "--max-images", converter = OptionValues.NonNegative.class, defaultValue = "8", description = "Most images in one request (default: ${DEFAULT-VALUE}).")
    int maxImages;

    @Option(names = "--prefix-cache-mb", converter = OptionValues.Mebibytes.class, defaultValue = "1024",
            description = "Memory for KV caches kept for continued conversations, MiB (default: ${DEFAULT-VALUE}; 0 = off).")
    long prefixCacheMb;

    @Option(names = "--image-cache-mb", converter = OptionValues.Mebibytes.class, defaultValue = "256",
            description = "Memory for encoded images kept by content hash, MiB (default: ${DEFAULT-VALUE}; 0 = off).")
    long imageCacheMb;

    @Option(names = "--prefill-chunk", converter = OptionValues.Positive.class, defaultValue = "512",
            description = "Prompt positions computed per scheduler step (default: ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--cors-origin", description = "Allow browser calls from this origin (repeatable; '*' = any). Default: CORS off.")
    List<String> corsOrigins = new ArrayList<>();

    @Option(names = "--allow-image-host", description = "Fetch http(s) image URLs from this host (repeatable; '*.example.com' "
            + "matches subdomains). Default: no URL fetching, data: URLs only.")
    List<String> imageHosts = new ArrayList<>();

    @Option(names = "--image-url-max-mb", converter = OptionValues.Mebibytes.class, defaultValue = "10", description = "Largest fetched image, MiB (default: ${DEFAULT-VALUE}).")
    long imageUrlMaxMb;

    @Option(names = "--image-url-timeout", converter = OptionValues.PositiveLong.class, defaultValue = "10", description = "Seconds to fetch one image URL (default: ${DEFAULT-VALUE}).")
    long imageUrlTimeout;

    @Option(names = "--shutdown-grace", converter = OptionValues.NonNegativeLong.class, defaultValue = "30",
            description = "On SIGTERM, seconds running requests may take to finish before they are cancelled (default: ${DEFAULT-VALUE}).")
    long shutdownGrace;

    @Option(names = "--memory", paramLabel = "SIZE", description = "Heap cap, e.g. 6g or 800m: the ./instella launcher "
            + "starts the JVM with -Xmx SIZE; KV caches, caches and request buffers must fit in it (checked at startup). "
            + "Default: half of the machine's memory (the launcher's -XX:MaxRAMPercentage=50).")
    String memory;

    @Option(names = "--image-decode-threads", description = "Images decoded at once (default: min(4, cores)).")
    Integer imageDecodeThreads;

    @Option(names = "--image-decode-queue", defaultValue = "16",
            description = "Images that may wait for a decode thread before 503 (default: ${DEFAULT-VALUE}).")
    int imageDecodeQueue;

    @Option(names = "--image-decode-timeout", defaultValue = "10",
            description = "Seconds one image may take to decode (waiting for a thread included) before the request "
                    + "gets 400 and the decode is stopped (default: ${DEFAULT-VALUE}).")
    double imageDecodeTimeout;

    @Option(names = "--request-buffer-mb", description = "Request-body memory held at once by all requests together, MiB "
            + "(default: 4 x --max-body-mb); a large body beyond it waits up to 2 s, then gets 503.")
    Long requestBufferMb;

    @Override
    public Integer call() throws Exception {
        Integer ctx = modelOptions.context.ctx;
        if (ctx != null && ctx < MIN_CONTEXT) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Invalid value for option '--ctx': serve needs at least "
                    + MIN_CONTEXT + " positions per sequence, got '" + ctx + "'");
        }
        modelOptions.threads.apply();
        modelOptions.bf16Compute.apply();
        if (apiKey == null) {
            String env = System.getenv("INSTELLA_API_KEY");
            if (env != null && !env.isBlank()) apiKey = env;
        }
        var out = spec.commandLine().getOut();
        var err = spec.commandLine().getErr();
        long heapCap = HeapCap.current();
        if (memory != null) HeapCap.requireMatches(memory, heapCap);
        io.instella.core.tensor.DType cacheType = modelOptions.kvCache.type();
        ServerOptions.Builder builder = ServerOptions.builder();
        Path model = modelOptions.model.resolve(ModelSource.Need.MODEL, err);
        InstellaVL vl = InstellaVL.load(model, modelOptions.quant.type(), modelOptions.lora.atLoad());
        if (cacheType != null) vl.languageModel().setCacheType(cacheType);
        ModelSource source = ModelSource.parse(modelOptions.model.model);
        String name = modelName != null ? modelName
                : source.isLocal() ? model.toAbsolutePath().normalize().getFileName().toString() : source.repo().toString();
        ServerOptions options;
        try {
            options = builder.host(host).port(port).apiKey(apiKey).modelName(name).parallel(parallel)
                .contextLength(ctx != null ? ctx : Math.min(4096, vl.contextLength())).queueSize(queue)
                .maxBodyBytes(maxBodyMb << 20).maxImagePixels(maxImagePixels).maxImagesPerRequest(maxImages)
                .requestTimeout(Duration.ofSeconds(timeoutSeconds)).defaultMaxTokens(defaultMaxTokens).prefillChunk(prefillChunk)
                .prefixCacheBytes(prefixCacheMb << 20).imageCacheBytes(imageCacheMb << 20).corsOrigins(corsOrigins)
                .imageUrlHosts(imageHosts).imageUrlMaxBytes(imageUrlMaxMb << 20).imageUrlTimeout(Duration.ofSeconds(imageUrlTimeout))
                .shutdownGrace(Duration.ofSeconds(shutdownGrace))
                .imageDecodeThreads(imageDecodeThreads != null ? imageDecodeThreads : Math.min(4, Runtime.getRuntime().availableProcessors()))
                .imageDecodeQueue(imageDecodeQueue).imageDecodeTimeout(Duration.ofMillis(Math.round(imageDecodeTimeout * 1000)))
                .requestBufferBytes(requestBufferMb != null ? requestBufferMb << 20 : 0).build();
        } catch (IllegalArgumentException e) {
            // ServerOptions' own checks are serve's last option checks: a usage error, like the converters' ones.
            vl.close();
            throw new CommandLine.ParameterException(spec.commandLine(), "Invalid option value: " + e.getMessage());
        }
        MemoryPlan plan = MemoryPlan.of(vl, options);
        if (plan.total() > heapCap) {
            vl.close();
            throw new InstellaException("the server needs up to " + plan.describe() + " of heap with these options, "
                    + "but its heap cap is " + MemoryPlan.mib(heapCap) + "; give --memory "
                    + HeapCap.suggest(plan.total()) + " (or lower --parallel, --ctx, --prefix-cache-mb, --image-cache-mb, "
                    + "--max-body-mb or --image-decode-threads, or use --kv-cache f16)");
        }
        InstellaServer server;
        try {
            server = InstellaServer.start(vl, options);
        } catch (java.io.IOException e) {
            vl.close();
            throw new java.io.UncheckedIOException("cannot listen on " + host + ":" + port + ": " + e.getMessage(), e);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM / Ctrl-C: finish or cancel running requests cleanly, then exit.
        Thread hook = new Thread(() -> {
            err.println("instella: shutting down (running requests get up to " + shutdownGrace + " s)...");
            err.flush();
            server.close();
            vl.close();
            stopped.countDown();
        }, "instella-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        out.println("instella: memory: heap cap " + MemoryPlan.mib(heapCap) + HeapCap.origin(memory, heapCap) + "; the server needs at most "
                + plan.describe() + "; process RSS stays under the heap cap + " + MemoryPlan.mib(HeapCap.JVM_OVERHEAD)
                + " + the mapped weights (" + MemoryPlan.mib(vl.weightBytes()) + ")");
        out.println("instella: serving " + name + " on " + server.url() + "  (chat page: " + server.url() + "/, API: "
                + server.url() + "/v1, parallel " + parallel + ", context " + options.contextLength()
                + (apiKey != null ? ", API key required" : "") + ")");
        out.flush();
        server.join();
        stopped.await();
        return 0;
    }
}
