package io.instella.model;

import io.instella.core.kernels.NativeKernels;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.MappedMemory;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.GenerationDefaults;
import io.instella.model.config.InstellaConfig;
import io.instella.model.image.AnyresGeometry;
import io.instella.model.image.ImagePreprocessor;
import io.instella.model.image.ImageProcessingConfig;
import io.instella.model.image.PreprocessedImage;
import io.instella.model.image.RgbImage;
import io.instella.model.lm.OlmoModel;
import io.instella.model.projector.MlpProjector;
import io.instella.model.tokenizer.Tokenizer;
import io.instella.model.vision.ClipVisionTower;
import io.instella.model.vision.FeatureMerger;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The composed Instella-VL model (LLaVA-NeXT layout): CLIP vision tower → mlp2x_gelu projector →
 * anyres/spatial_unpad merge → OLMo language model. Loads a Hugging Face checkpoint directory
 * (config.json, model.safetensors[.index.json], tokenizer.json, generation_config.json).
 */
public final class InstellaVL implements AutoCloseable {
    private final Path directory;
    private final InstellaConfig config;
    private final GenerationDefaults generationDefaults;
    private final Checkpoint checkpoint;
    /** The checkpoint as opened, which owns the mapped files; {@link #checkpoint} may be a view of it. */
    private final Checkpoint opened;
    private final Tokenizer tokenizer;
    private final OlmoModel languageModel;
    private final ClipVisionTower visionTower;
    private final MlpProjector projector;
    private final float[] imageNewline;
    private final ImagePreprocessor preprocessor;
    private final ImageProcessingConfig imageConfig;
    /** Holds weights quantized or repacked at load time. */
    private final Arena quantized;

    private InstellaVL(Path directory, InstellaConfig config, Checkpoint checkpoint, Checkpoint opened, DType quantize,
                       Arena quantized) {
        this.directory = directory;
        this.config = config;
        this.checkpoint = checkpoint;
        this.opened = opened;
        this.quantized = quantized;

        // Everything is checked before anything is allocated: names, layer counts and shapes against the
        // checkpoint's header, then the tokenizer's ids against the vocabulary the model can embed.
        ModelTensors.check(config, checkpoint);
        Path tok = directory.resolve("tokenizer.json");
        if (!Files.isRegularFile(tok)) {
            throw new InstellaException(directory + ": no tokenizer.json (the checkpoint directory must contain the tokenizer files)");
        }
        this.tokenizer = Tokenizer.load(tok, config.text().vocabSize());
        this.generationDefaults = GenerationDefaults.load(directory, config, tokenizer);
        UnaryOperator<Tensor> linear = quantize == null ? UnaryOperator.identity() : new QuantizationPlan(quantize).atLoad(quantized);
        UnaryOperator<Tensor> lmLinear = QuantizationPlan.languageModelAtLoad(quantize, quantized, NativeKernels.available());
        this.languageModel = new OlmoModel(config.text(), checkpoint, lmLinear);
        if (config.hasVision()) {
            var mm = config.multimodal();
            this.visionTower = new ClipVisionTower(mm.vision(), checkpoint, mm.selectLayer(), mm.selectFeature(), linear);
            this.projector = new MlpProjector(mm.projectorType(), mm.mmHiddenSize(), config.text().hiddenSize(), checkpoint);
            this.imageNewline = mm.patchMergeType().contains("unpad")
                    ? checkpoint.get("model.image_newline", config.text().hiddenSize()).toFloatArray() : null;
            this.imageConfig = mm.preprocessorConfig() != null
                    ? ImageProcessingConfig.fromPreprocessorConfig(mm.preprocessorConfig(), mm.imageAspectRatio(), mm.gridPinpoints())
                    : clipPreprocessing(mm);
            this.preprocessor = new ImagePreprocessor(imageConfig);
        } else {
            this.visionTower = null;
            this.projector = null;
            this.imageNewline = null;
            this.imageConfig = null;
            this.preprocessor = null;
        }
    }

    /** Loads a checkpoint directory, weights used as stored. */
    public static InstellaVL load(Path directory) {
        return load(directory, null);
    }

    /**
     * Loads a checkpoint directory, quantizing the language model's and the vision tower's projection
     * weights and the output head as {@link QuantizationPlan} says for {@code quantize} (Q8_0 or Q4_0;
     * null = as stored). Embeddings, norms, the projector and image_newline stay as stored.
     */
    public static InstellaVL load(Path directory, DType quantize) {
        return load(directory, quantize, UnaryOperator.identity());
    }

    /**
     * {@link #load(Path, DType)} with the opened checkpoint passed through {@code checkpointTransform} before any
     * part reads it: e.g. a LoRA adapter merged in ({@code LoraAdapter::applyTo}, a
     * {@link Checkpoint#withOverrides} view). Quantization applies to the transformed weights. The model closes
     * the opened checkpoint (and the view) when it is closed.
     */
    public static InstellaVL load(Path directory, DType quantize, UnaryOperator<Checkpoint> checkpointTransform) {
        if (quantize != null && !quantize.isQuantized()) {
            throw new InstellaException("cannot quantize weights to " + quantize + " (choose q8_0 or q4_0)");
        }
        if (!Files.isDirectory(directory)) throw new InstellaException(directory + ": no such model directory");
        InstellaConfig config = InstellaConfig.load(directory);
        Checkpoint opened = Checkpoint.open(directory);
        Arena loaded = Arena.ofShared();
        Checkpoint ckpt = opened;
        try {
            ckpt = checkpointTransform.apply(opened);
            return new InstellaVL(directory, config, ckpt, opened, quantize, loaded);
        } catch (RuntimeException e) {
            if (ckpt != opened) ckpt.close();
            opened.close();
            loaded.close();
            throw e;
        }
    }

    /** Parses a weight format name as the CLI takes it: q8_0, q4_0 (case-insensitive). */
    public static DType quantization(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "q8_0", "q8" -> DType.Q8_0;
            case "q4_0", "q4" -> DType.Q4_0;
            default -> throw new InstellaException("unknown quantization '" + name + "' (q8_0 or q4_0)");
        };
    }

    /** "f16" or "f32" as the KV cache element type. */
    public static DType kvCacheType(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "f16" -> DType.F16;
            case "f32" -> DType.F32;
            default -> throw new InstellaException("unknown KV cache type '" + name + "' (f16 or f32)");
        };
    }

    /** The type of the projection weights as loaded (the checkpoint's, or the quantization applied). */
    public DType weightType() { return languageModel.projectionType(); }

    public Path directory() { return directory; }

    public InstellaConfig config() { return config; }

    public GenerationDefaults generationDefaults() { return generationDefaults; }

    public Tokenizer tokenizer() { return tokenizer; }

    public OlmoModel languageModel() { return languageModel; }

    public Checkpoint checkpoint() { return checkpoint; }

    public boolean supportsImages() { return visionTower != null; }

    /** Bytes of the weights the model holds in memory (as loaded: quantized where quantized). */
    public long weightBytes() {
        long b = languageModel.weightBytes();
        if (visionTower != null) b += visionTower.weightBytes() + projector.weightBytes();
        if (imageNewline != null) b += 4L * imageNewline.length;
        return b;
    }

    /** Bytes of weights one decode step reads. */
    public long decodeBytesPerToken() { return languageModel.decodeBytesPerToken(); }

    /** Vision encoder layers that run per tile (0 without vision). */
    public int visionLayersRun() { return visionTower == null ? 0 : visionTower.layersRun(); }

    /** The vision tower (null for a text-only config). */
    public ClipVisionTower visionTower() { return visionTower; }

    public int contextLength() { return config.contextLength(); }

    /** Image tokens an image of this size becomes, without running the model. */
    public int imageTokenCount(int width, int height) {
        requireVision();
        return AnyresGeometry.layout(width, height, imageConfig.gridPinpoints(), visionTower.config().patchesPerSide(),
                imageConfig.aspectRatioMode(), config.multimodal().patchMergeType()).numImageTokens();
    }

    /** Preprocesses, encodes, projects and merges one image. */
    public EncodedImage encodeImage(RgbImage image) {
        requireVision();
        long t0 = System.nanoTime();
        PreprocessedImage pre = preprocessor.preprocess(image);
        float[] features = visionTower.forward(pre.pixelValues(), pre.tiles());
        int perTile = visionTower.featuresPerTile();
        float[] projected = projector.forward(features, pre.tiles() * perTile);
        float[] merged = merge(pre, projected);
        int h = config.text().hiddenSize();
        return new EncodedImage(pre, features, projected, merged, merged.length / h, (System.nanoTime() - t0) / 1e6);
    }

    /** CLIP's processor settings at the tower's own input size, when no preprocessor_config.json is found. */
    private static ImageProcessingConfig clipPreprocessing(InstellaConfig.Multimodal mm) {
        int size = mm.vision().imageSize();
        ImageProcessingConfig clip = ImageProcessingConfig.clipDefaults(mm.imageAspectRatio(), mm.gridPinpoints());
        return new ImageProcessingConfig(size, size, clip.rescaleFactor(), clip.mean(), clip.std(),
                mm.imageAspectRatio(), mm.gridPinpoints());
    }

    private float[] merge(PreprocessedImage pre, float[] projected) {
        int h = config.text().hiddenSize();
        var mm = config.multimodal();
        int side = visionTower.config().patchesPerSide();
        var layout = AnyresGeometry.layout(pre.originalWidth(), pre.originalHeight(), imageConfig.gridPinpoints(),
                side, visionTower.config().imageSize(), imageConfig.aspectRatioMode(), mm.patchMergeType());
        if (layout.tiles() != pre.tiles()) {
            throw new IllegalStateException("preprocessing made " + pre.tiles() + " tiles, the layout expects " + layout.tiles());
        }
        int perTile = visionTower.featuresPerTile();
        float[] merged = switch (layout.kind()) {
            case FLAT -> projected;
            case SINGLE -> FeatureMerger.single(projected, perTile, h, layout.newline() ? imageNewline : null);
            case GRID -> {
                if (perTile != side * side) {
                    throw new InstellaException("mm_vision_select_feature 'cls_patch' cannot be merged spatially; use 'patch'");
                }
                yield FeatureMerger.spatial(projected, h, side, layout.gridW(), layout.gridH(), layout.rowStart(), layout.rows(),
                        layout.colStart(), layout.cols(), layout.outRows(), layout.outCols(), layout.newline() ? imageNewline : null);
            }
        };
        if (merged.length / h != layout.numImageTokens()) {
            throw new IllegalStateException("merged " + merged.length / h + " image tokens, geometry says " + layout.numImageTokens());
        }
        return merged;
    }

    /**
     * Tokenises a formatted prompt the way {@code tokenizer_image_token} does: split at {@code <image>},
     * encode each piece, join with -200; then encodes the images (one per placeholder, in order).
     */
    public PreparedPrompt prepare(String prompt, List<RgbImage> images) {
        int[] ids = tokenizePrompt(prompt, images.size());
        List<EncodedImage> encoded = new ArrayList<>();
        for (RgbImage img : images) encoded.add(encodeImage(img));
        return prepared(prompt, ids, encoded);
    }

    /** {@link #prepare} with images encoded earlier (by {@link #encodeImage}), e.g. once per conversation. */
    public PreparedPrompt prepareEncoded(String prompt, List<EncodedImage> images) {
        return prepared(prompt, tokenizePrompt(prompt, images.size()), List.copyOf(images));
    }

    private PreparedPrompt prepared(String prompt, int[] ids, List<EncodedImage> encoded) {
        int placeholders = (int) java.util.Arrays.stream(ids).filter(i -> i == PreparedPrompt.IMAGE_TOKEN_INDEX).count();
        int length = ids.length - placeholders + encoded.stream().mapToInt(EncodedImage::tokens).sum();
        return new PreparedPrompt(prompt, ids, List.copyOf(encoded), length);
    }

    /** Prompt ids with -200 at each {@code <image>}; checks there is one image per placeholder. */
    private int[] tokenizePrompt(String prompt, int imageCount) {
        String[] chunks = prompt.split(java.util.regex.Pattern.quote("<image>"), -1);
        int placeholders = chunks.length - 1;
        if (placeholders != imageCount) {
            throw new InstellaException("the prompt has " + placeholders + " <image> placeholder(s) but " + imageCount
                    + " image(s) were given; give one image per placeholder");
        }
        if (placeholders > 0 && !supportsImages()) {
            throw new InstellaException("this checkpoint has no vision tower (text-only config); it cannot take images");
        }
        List<Integer> ids = new ArrayList<>();
        for (int c = 0; c < chunks.length; c++) {
            if (c > 0) ids.add(PreparedPrompt.IMAGE_TOKEN_INDEX);
            for (int id : tokenizer.encode(chunks[c])) ids.add(id);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The prompt's input embeddings [sequenceLength, hidden]: text rows from embed_tokens, image rows spliced in. */
    public float[] embed(PreparedPrompt prompt) {
        int h = config.text().hiddenSize();
        float[] out = new float[prompt.sequenceLength() * h];
        int row = 0, img = 0;
        int[] ids = prompt.inputIds();
        for (int i = 0; i < ids.length; ) {
            if (ids[i] == PreparedPrompt.IMAGE_TOKEN_INDEX) {
                EncodedImage e = prompt.images().get(img++);
                System.arraycopy(e.mergedFeatures(), 0, out, row * h, e.tokens() * h);
                row += e.tokens();
                i++;
            } else {
                int j = i;
                while (j < ids.length && ids[j] != PreparedPrompt.IMAGE_TOKEN_INDEX) j++;
                languageModel.embed(ids, i, j - i, out, row);
                row += j - i;
                i = j;
            }
        }
        return out;
    }

    private void requireVision() {
        if (visionTower == null) throw new InstellaException("this checkpoint has no vision tower (text-only config)");
    }

    @Override
    public void close() {
        checkpoint.close();
        if (opened != checkpoint) opened.close();
        quantized.close();
    }
}
