package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.model.EncodedImage;
import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.Generator;
import io.instella.model.generate.TokenListener;
import io.instella.model.generate.TokenLogprob;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import io.instella.model.source.ModelSource;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code instella generate}: one prompt in, one completion out (the contract external checks use). */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a completion for a prompt with optional images.")
public final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;


    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptSource source;

    static final class PromptSource {
        @Option(names = "--prompt", description = "A user question; formatted with the instella chat template.")
        String prompt;
        @Option(names = "--messages", description = "OpenAI-style messages JSON file [{\"role\":..., \"content\":...}].")
        Path messages;
        @Option(names = "--raw-prompt", description = "A prompt used verbatim (may contain <image>).")
        String rawPrompt;
    }

    @Mixin
    CommonOptions.Images images;

    @Option(names = "--exif-orientation", description = "Rotate images by their EXIF orientation (the reference does not).")
    boolean exifOrientation;

    @Option(names = "--max-image-pixels", converter = OptionValues.PositiveLong.class,
            description = "Refuse images with more pixels than this, before decoding (default: ${DEFAULT-VALUE}).",
            defaultValue = "178956970")
    long maxImagePixels;

    /** The same options as run and chat; what is left out takes this command's fixed defaults (below). */
    @Mixin
    SamplingOptions sampling;

    /** The contract's defaults: 256 new tokens, no top-k/top-p/min-p filter, no repetition penalty. */
    static final int DEFAULT_MAX_NEW_TOKENS = 256;

    @Option(names = "--logprobs", converter = OptionValues.Logprobs.class,
            description = "Report log-probabilities with this many alternatives per token (0 to 20).")
    Integer logprobs;

    @Option(names = "--json", description = "Print one JSON object instead of streaming text.")
    boolean json;

    @Option(names = "--dump-tensors", description = "Write intermediate tensors (golden names/layouts) to this safetensors file.")
    Path dumpTensors;

    @Override
    public Integer call() throws IOException {
        if (source.messages != null) InputFiles.requireRegularFile(source.messages);
        modelOptions.threads.apply();
        modelOptions.bf16Compute.apply();
        io.instella.core.tensor.DType cacheType = modelOptions.kvCache.type();
        List<RgbImage> decoded = new ArrayList<>();
        ImageDecoder decoder = ImageDecoder.defaults().withMaxPixels(maxImagePixels).withExifOrientation(exifOrientation);
        for (Path p : images.checked()) decoded.add(decoder.decode(p));
        Path dir = modelOptions.model.resolve(ModelSource.Need.MODEL, spec.commandLine().getErr());
        long tLoad = System.nanoTime();
        try (InstellaVL vl = InstellaVL.load(dir, modelOptions.quant.type(), modelOptions.lora.atLoad())) {
            double loadMs = (System.nanoTime() - tLoad) / 1e6;
            if (cacheType != null) vl.languageModel().setCacheType(cacheType);
            String promptText = buildPrompt(decoded.size());
            PreparedPrompt prompt = vl.prepare(promptText, decoded);
            GenerationOptions options = options(vl);
            java.io.PrintWriter out = spec.commandLine().getOut();
            TokenListener listener = json ? TokenListener.NONE : (id, delta) -> {
                out.print(delta);
                out.flush();
            };
            int context = modelOptions.context.ctx != null ? modelOptions.context.ctx : vl.contextLength();
            GenerationResult r = new Generator(vl).generate(prompt, options, listener, context, dumpTensors != null);
            if (dumpTensors != null) dump(vl, prompt, r);
            if (json) {
                out.println(toJson(prompt, r, loadMs));
            } else {
                out.println();
                spec.commandLine().getErr().printf("%nload %.0f ms | vision %.0f ms | prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | %s%n",
                        loadMs, r.visionMillis(), r.promptTokens(), r.prefillTokensPerSecond(), r.completionIds().length,
                        r.decodeTokensPerSecond(), r.finishReason().apiName());
            }
            return 0;
        }
    }

    private GenerationOptions options(InstellaVL vl) {
        var defaults = vl.generationDefaults();
        SamplingOptions s = sampling;
        double t = s.temperature != null ? s.temperature : (defaults.doSample() ? defaults.temperature() : 0.0);
        return GenerationOptions.builder()
                .maxNewTokens(s.maxNewTokens != null ? s.maxNewTokens : DEFAULT_MAX_NEW_TOKENS)
                .temperature(t)
                .topK(s.topK != null ? s.topK : 0)
                .topP(s.topP != null ? s.topP : 1.0)
                .minP(s.minP != null ? s.minP : 0.0)
                .repetitionPenalty(s.repetitionPenalty != null ? s.repetitionPenalty : 1.0)
                .seed(s.seed).stopStrings(s.stop).ignoreEos(s.ignoreEos)
                .logprobs(logprobs != null).topLogprobs(logprobs == null ? 0 : logprobs).build();
    }

    private String buildPrompt(int imageCount) throws IOException {
        if (source.rawPrompt != null) return source.rawPrompt;
        if (source.prompt != null) return ChatTemplate.single(source.prompt, imageCount);
        return ChatTemplate.render(readMessages(source.messages, imageCount), true);
    }

    /** OpenAI-style messages; images attach to the first user turn, as in the reference. */
    static List<ChatMessage> readMessages(Path file, int imageCount) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (java.nio.file.NoSuchFileException e) {
            throw new InstellaException(file + ": messages file not found");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new InstellaException(file + ": not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (root != null && root.isObject() && root.has("messages")) root = root.get("messages");
        if (root == null || !root.isArray() || root.isEmpty()) {
            throw new InstellaException(file + ": expected a non-empty JSON array of {\"role\", \"content\"} messages");
        }
        List<ChatMessage> messages = new ArrayList<>();
        boolean attached = false;
        for (int i = 0; i < root.size(); i++) {
            JsonNode m = root.get(i);
            if (!m.isObject() || !m.hasNonNull("role")) throw new InstellaException(file + ": message " + i + " has no role");
            ChatMessage.Role role;
            try {
                role = ChatMessage.Role.parse(m.get("role").asText());
            } catch (IllegalArgumentException e) {
                throw new InstellaException(file + ": message " + i + ": " + e.getMessage());
            }
            String content = contentText(file, i, m.get("content"));
            int imgs = 0;
            if (role == ChatMessage.Role.USER && !attached) {
                imgs = imageCount;
                attached = true;
            }
            messages.add(new ChatMessage(role, content, imgs));
        }
        return messages;
    }

    private static String contentText(Path file, int i, JsonNode c) {
        if (c == null || c.isNull()) throw new InstellaException(file + ": message " + i + " has no content");
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                String type = part.path("type").asText();
                if (type.equals("text")) {
                    if (!sb.isEmpty()) sb.append("\n");
                    sb.append(part.path("text").asText());
                } else {
                    throw new InstellaException(file + ": message " + i + " has a '" + type
                            + "' part; the CLI takes images with --image (they attach to the first user turn)");
                }
            }
            return sb.toString();
        }
        throw new InstellaException(file + ": message " + i + " content must be a string or a list of text parts");
    }

    private String toJson(PreparedPrompt prompt, GenerationResult r, double loadMs) throws IOException {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.put("prompt", prompt.text());
        ArrayNode ids = o.putArray("input_ids");
        for (int id : prompt.inputIds()) ids.add(id);
        o.put("num_image_tokens", prompt.numImageTokens());
        o.put("sequence_length", prompt.sequenceLength());
        ArrayNode comp = o.putArray("completion_ids");
        for (int id : r.completionIds()) comp.add(id);
        o.put("text", r.text());
        o.put("finish_reason", r.finishReason().apiName());
        if (!r.logprobs().isEmpty()) {
            ArrayNode lp = o.putArray("logprobs");
            for (TokenLogprob t : r.logprobs()) {
                ObjectNode e = lp.addObject();
                e.put("id", t.tokenId()).put("token", t.token()).put("logprob", t.logprob());
                ArrayNode top = e.putArray("top_logprobs");
                for (var a : t.top()) top.addObject().put("id", a.tokenId()).put("token", a.token()).put("logprob", a.logprob());
            }
        }
        ObjectNode timings = o.putObject("timings");
        timings.put("load_ms", loadMs).put("vision_ms", r.visionMillis()).put("prefill_ms", r.prefillMillis())
                .put("decode_ms", r.decodeMillis()).put("prefill_tokens_per_s", r.prefillTokensPerSecond())
                .put("decode_tokens_per_s", r.decodeTokensPerSecond());
        return m.writeValueAsString(o);
    }

    /** Intermediate tensors with the golden set's names and layouts; several images concatenate along dim 0. */
    private void dump(InstellaVL vl, PreparedPrompt prompt, GenerationResult r) throws IOException {
        int h = vl.config().text().hiddenSize();
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt").metadata("producer", "instella-java");
        long[] ids = java.util.Arrays.stream(prompt.inputIds()).asLongStream().toArray();
        w.addLongs("input_ids", ids, ids.length);
        w.addFloats("final_hidden", r.promptFinalHidden(), prompt.sequenceLength(), h);
        w.addFloats("logits_last", r.promptLastLogits(), r.promptLastLogits().length);
        if (!prompt.images().isEmpty()) {
            List<EncodedImage> imgs = prompt.images();
            int tiles = imgs.stream().mapToInt(e -> e.preprocessed().tiles()).sum();
            int tokens = imgs.stream().mapToInt(EncodedImage::tokens).sum();
            int side = 336;
            int perTile = imgs.getFirst().visionFeatures().length / imgs.getFirst().preprocessed().tiles();
            int vh = vl.config().multimodal().vision().hiddenSize();
            int featRows = perTile / vh;
            side = (int) Math.round(Math.sqrt(imgs.getFirst().preprocessed().pixelValues().length / (3.0 * imgs.getFirst().preprocessed().tiles())));
            w.addFloats("pixel_values", concat(imgs.stream().map(e -> e.preprocessed().pixelValues()).toList()), tiles, 3, side, side);
            w.addFloats("vision_features", concat(imgs.stream().map(EncodedImage::visionFeatures).toList()), tiles, featRows, vh);
            w.addFloats("projected_features", concat(imgs.stream().map(EncodedImage::projectedFeatures).toList()), tiles, featRows, h);
            w.addFloats("merged_features", concat(imgs.stream().map(EncodedImage::mergedFeatures).toList()), tokens, h);
            long[] sizes = new long[imgs.size() * 2];
            for (int i = 0; i < imgs.size(); i++) {
                sizes[2 * i] = imgs.get(i).preprocessed().originalWidth();
                sizes[2 * i + 1] = imgs.get(i).preprocessed().originalHeight();
            }
            w.addLongs("image_sizes", sizes, imgs.size(), 2);
        }
        w.write(dumpTensors);
    }

    private static float[] concat(List<float[]> parts) {
        int n = parts.stream().mapToInt(a -> a.length).sum();
        float[] out = new float[n];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
