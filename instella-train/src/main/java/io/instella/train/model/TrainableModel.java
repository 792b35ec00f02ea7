package io.instella.train.model;

import io.instella.core.kernels.VectorMath;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.InstellaConfig;
import io.instella.model.image.AnyresGeometry;
import io.instella.model.image.PreprocessedImage;
import io.instella.core.tensor.DType;
import io.instella.model.lm.CausalLmLoss;
import io.instella.model.lm.LowRankAdapter;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraConfig;
import io.instella.model.lora.LoraPair;
import io.instella.train.lora.LoraTargets;
import io.instella.model.lm.OlmoModel;
import io.instella.model.lm.OlmoTraining;
import io.instella.model.projector.MlpProjector;
import io.instella.model.vision.ClipTraining;
import io.instella.model.vision.ClipVisionTower;
import io.instella.model.vision.FeatureMerger;
import io.instella.train.data.Batch;
import io.instella.train.data.TrainingExample;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The Instella-VL model in training: the inference parts (vision tower, projector, OLMo) built over the checkpoint with
 * the trained tensors replaced by their float32 master values, and one forward/backward per micro-batch as upstream's
 * {@code prepare_inputs_labels_for_multimodal} + {@code OlmoForCausalLM.forward} + {@code backward} compute it (golden
 * README steps 7-9). Frozen weights stay memory-mapped as stored.
 * <p>Each sequence of the batch runs on its own (after padding removal the padded rows only ever sit after the real
 * ones, under a causal mask, with label -100: they change nothing), so memory holds one sequence's activations.
 */
public final class TrainableModel implements AutoCloseable {
    public static final String IMAGE_NEWLINE = "model.image_newline";
    public static final int IMAGE_TOKEN_INDEX = -200;

    /**
     * @param aspectRatio             {@code image_aspect_ratio} of the run: square, anyres or pad
     * @param patchMergeType          {@code mm_patch_merge_type}: flat or spatial_unpad
     * @param tokenizerModelMaxLength merged sequences are cut to this many rows (upstream's tokenizer_model_max_length)
     */
    public record Options(TunableParts parts, String aspectRatio, String patchMergeType, int tokenizerModelMaxLength,
                          LoraConfig lora, long seed) {
        public Options(TunableParts parts, String aspectRatio, String patchMergeType, int tokenizerModelMaxLength) {
            this(parts, aspectRatio, patchMergeType, tokenizerModelMaxLength, null, 42);
        }
    }

    /** What one example contributed to a micro-batch. */
    public record ExampleResult(String id, int mergedLength, int targets, double lossSum, int[] mergedLabels) {
        public double loss() { return lossSum / targets; }
    }

    /** The micro-batch's mean loss over all its targets, and each example's part. */
    public record StepResult(double loss, int targets, List<ExampleResult> examples) {}

    private final Path directory;
    private final InstellaConfig config;
    private final Checkpoint base;
    private final Options options;
    private final ParameterSet parameters = new ParameterSet();
    private final int padTokenId;

    /** LoRA adapters by adapted weight name (empty without LoRA). */
    private final Map<String, LowRankAdapter> adapters = new HashMap<>();
    private long dropoutSeed;

    private OlmoModel languageModel;
    private ClipVisionTower visionTower;
    private MlpProjector projector;
    private float[] imageNewline;

    public TrainableModel(Path directory, InstellaConfig config, Checkpoint base, Options options) {
        this.directory = directory;
        this.config = config;
        this.base = base;
        this.options = options;
        this.padTokenId = config.padTokenId() == null ? -1 : config.padTokenId();
        for (String name : base.names()) {
            if (name.endsWith("position_ids") || !options.parts().trains(name)) continue;
            if (!config.hasVision() && (name.contains("vision_tower") || name.contains("mm_projector"))) continue;
            parameters.add(Parameter.copyOf(base.get(name)));
        }
        if (options.lora() != null) addAdapters(options.lora(), options.seed());
        rebuild();
    }

    public static TrainableModel open(Path directory, Options options) {
        InstellaConfig config = InstellaConfig.load(directory);
        Checkpoint ckpt = Checkpoint.open(directory);
        try {
            return new TrainableModel(directory, config, ckpt, options);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    public Path directory() { return directory; }

    public InstellaConfig config() { return config; }

    public Checkpoint base() { return base; }

    public ParameterSet parameters() { return parameters; }

    public Options options() { return options; }

    /**
     * Adds a trained A and B for every targeted weight (PEFT's selection and init: A uniform in ±1/√in from the seed,
     * B zero) and trains the modules_to_save tensors in full. Adapters are trained on the language model's layers.
     */
    private void addAdapters(LoraConfig lora, long seed) {
        LoraAdapter init = LoraTargets.initialize(lora, base, seed);
        for (LoraPair pair : init.pairs().values()) {
            String weight = pair.module() + ".weight";
            if (!weight.startsWith(OlmoModel.PREFIX + "layers.")) {
                throw new IllegalArgumentException("LoRA targets '" + pair.module() + "': adapters are trained on the language model's"
                        + " linear layers only (train the projector in full with --lora-modules-to-save mm_projector)");
            }
            Parameter pa = new Parameter(pair.module() + ".lora_A.weight", new long[]{pair.r(), pair.in()}, DType.F32, pair.a());
            Parameter pb = new Parameter(pair.module() + ".lora_B.weight", new long[]{pair.out(), pair.r()}, DType.F32, pair.b());
            parameters.add(pa);
            parameters.add(pb);
            adapters.put(weight, new LowRankAdapter(pa.name(), pb.name(), pair.r(), pair.in(), pair.out(),
                    (float) lora.scaleFor(pair.module()), (float) lora.loraDropout(), pa.value(), pb.value()));
        }
        for (String name : LoraTargets.wholeTensors(lora, base)) {
            if (!parameters.contains(name)) parameters.add(Parameter.copyOf(base.get(name)));
        }
    }

    /**
     * The adapter as PEFT saves it, from the current values (null without LoRA). Every tensor trained in full beside the
     * adapters (the projector with --mm-tunable-parts mm_mlp_adapter, or --lora-modules-to-save) is saved whole, under
     * modules_to_save, so loading the adapter brings the whole trained state.
     */
    public LoraAdapter loraAdapter() {
        if (options.lora() == null) return null;
        LoraConfig config = options.lora();
        java.util.Set<String> whole = new java.util.LinkedHashSet<>(config.modulesToSave());
        for (Parameter p : parameters) {
            if (p.name().contains(".lora_")) continue;
            if (p.name().contains("mm_projector")) whole.add("mm_projector");
            else if (!config.savesWhole(p.name())) whole.add(p.name().substring(0, p.name().lastIndexOf('.')));
        }
        if (!whole.equals(new java.util.LinkedHashSet<>(config.modulesToSave()))) config = config.withModulesToSave(List.copyOf(whole));
        LoraAdapter.Builder b = LoraAdapter.builder(config);
        for (LowRankAdapter a : adapters.values()) {
            String module = a.aName().substring(0, a.aName().length() - ".lora_A.weight".length());
            b.pair(new LoraPair(module, a.rank(), a.in(), a.out(), a.a().clone(), a.b().clone()));
        }
        for (Parameter p : parameters) {
            if (!p.name().contains(".lora_")) b.replacement(p.name(), p.value().clone(), p.shape());
        }
        return b.build();
    }

    /** The LoRA adapters by adapted weight name (empty without LoRA). */
    public Map<String, LowRankAdapter> adapters() { return java.util.Collections.unmodifiableMap(adapters); }

    /** Seeds the LoRA dropout masks of the next forward/backward (the trainer passes the step, so a resumed run repeats them). */
    public void setDropoutSeed(long seed) { this.dropoutSeed = seed; }

    /** Rebuilds the model parts over the current master values (after an optimizer step: biases and norms are copies). */
    public void rebuild() {
        Map<String, Tensor> trained = new HashMap<>();
        for (Parameter p : parameters) trained.put(p.name(), p.tensor());
        Checkpoint ckpt = base.withOverrides(trained);
        languageModel = new OlmoModel(config.text(), ckpt);
        if (config.hasVision()) {
            var mm = config.multimodal();
            visionTower = new ClipVisionTower(mm.vision(), ckpt, mm.selectLayer(), mm.selectFeature());
            projector = new MlpProjector(mm.projectorType(), mm.mmHiddenSize(), config.text().hiddenSize(), ckpt);
            imageNewline = ckpt.contains(IMAGE_NEWLINE) ? ckpt.get(IMAGE_NEWLINE, config.text().hiddenSize()).toFloatArray() : null;
        }
    }

    /** How an image of the run becomes LM rows (training sends images as a list: square/pad take the single-image branch). */
    public AnyresGeometry.UnpadLayout layout(PreprocessedImage image) {
        return layout(image, options.aspectRatio());
    }

    private AnyresGeometry.UnpadLayout layout(PreprocessedImage image, String aspectRatio) {
        var mm = config.multimodal();
        String aspect = aspectRatio.equals("square") ? "pad" : aspectRatio;
        return AnyresGeometry.layout(image.originalWidth(), image.originalHeight(), mm.gridPinpoints(),
                mm.vision().patchesPerSide(), mm.vision().imageSize(), aspect, options.patchMergeType());
    }

    /** The merged sequence of one collated row: where each row comes from, and its label. */
    private record Merged(int[] textIds, int[] imageOf, int[] imageRow, int[] labels, int length) {}

    private Merged merge(Batch batch, int b, List<int[]> sourceRows) {
        int[] ids = batch.inputIds()[b], labels = batch.labels()[b], mask = batch.attentionMask()[b];
        TrainingExample ex = batch.examples().get(b);
        List<Integer> textIds = new ArrayList<>(), imageOf = new ArrayList<>(), imageRow = new ArrayList<>(), merged = new ArrayList<>();
        int image = 0;
        for (int i = 0; i < ids.length; i++) {
            if (mask[i] == 0) continue;
            if (ids[i] == IMAGE_TOKEN_INDEX) {
                if (ex.textOnly() || image >= sourceRows.size()) {
                    throw new IllegalArgumentException(ex.id() + ": more <image> placeholders than images");
                }
                int[] rows = sourceRows.get(image);
                for (int r = 0; r < rows.length; r++) {
                    textIds.add(-1);
                    imageOf.add(image);
                    imageRow.add(rows[r]);
                    merged.add(CausalLmLoss.IGNORE_INDEX);
                }
                image++;
            } else {
                textIds.add(ids[i]);
                imageOf.add(-1);
                imageRow.add(0);
                merged.add(labels[i]);
            }
        }
        int length = Math.min(merged.size(), options.tokenizerModelMaxLength());
        return new Merged(toArray(textIds, length), toArray(imageOf, length), toArray(imageRow, length), toArray(merged, length), length);
    }

    private static int[] toArray(List<Integer> list, int length) {
        int[] a = new int[length];
        for (int i = 0; i < length; i++) a[i] = list.get(i);
        return a;
    }

    /**
     * One forward and backward pass over a micro-batch: gradients (scaled by 1 / the batch's target count, so they are
     * those of the batch's mean loss) are added to the parameters' gradients.
     */
    public StepResult forwardBackward(Batch batch) {
        return run(batch, true);
    }

    /** The micro-batch's loss without gradients (evaluation). */
    public StepResult evaluate(Batch batch) {
        return run(batch, false);
    }

    private StepResult run(Batch batch, boolean backward) {
        Function<String, float[]> gradients = name -> {
            Parameter p = parameters.get(name);
            return p == null ? null : p.gradForAccumulation();
        };
        if (backward) touchReachable();
        int n = batch.size();
        List<List<AnyresGeometry.UnpadLayout>> layouts = new ArrayList<>();
        List<Merged> merged = new ArrayList<>();
        int totalTargets = 0;
        for (int b = 0; b < n; b++) {
            TrainingExample ex = batch.examples().get(b);
            List<AnyresGeometry.UnpadLayout> ls = new ArrayList<>();
            List<int[]> sources = new ArrayList<>();
            if (!ex.textOnly()) {
                for (PreprocessedImage img : ex.images()) {
                    // several images: upstream preprocesses each in "pad" mode (one tile)
                    AnyresGeometry.UnpadLayout layout = ex.images().size() > 1 ? layout(img, "pad") : layout(img);
                    if (layout.tiles() != img.tiles()) {
                        throw new IllegalStateException(ex.id() + ": preprocessing made " + img.tiles() + " tiles, the layout expects " + layout.tiles());
                    }
                    ls.add(layout);
                    sources.add(FeatureMerger.sourceRows(layout, config.multimodal().vision().patchesPerSide(), visionTower.featuresPerTile()));
                }
            }
            layouts.add(ls);
            Merged m = merge(batch, b, sources);
            merged.add(m);
            totalTargets += CausalLmLoss.targets(m.labels(), m.length());
        }
        double scale = 1.0 / totalTargets; // 0 targets: NaN loss and no gradient, as PyTorch's mean over nothing
        double lossSum = 0;
        List<ExampleResult> results = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            TrainingExample ex = batch.examples().get(b);
            Merged m = merged.get(b);
            ExampleResult r = runExample(ex, m, totalTargets == 0 ? 0 : scale, gradients, backward);
            lossSum += r.lossSum();
            results.add(r);
        }
        return new StepResult(lossSum / totalTargets, totalTargets, results);
    }

    /**
     * Gives a zero gradient (not none) to every trained tensor the graph reaches, as autograd does even when nothing
     * flows into it (e.g. the projector for a text-only batch, whose dummy image is encoded but not spliced in).
     */
    private void touchReachable() {
        int layersRun = visionTower == null ? 0 : visionTower.layersRun();
        for (Parameter p : parameters) {
            String name = p.name();
            if (name.startsWith(ClipVisionTower.PREFIX + "post_layernorm")) continue;
            if (name.startsWith(ClipVisionTower.PREFIX + "encoder.layers.")) {
                String rest = name.substring((ClipVisionTower.PREFIX + "encoder.layers.").length());
                if (Integer.parseInt(rest.substring(0, rest.indexOf('.'))) >= layersRun) continue;
            }
            if (name.equals(IMAGE_NEWLINE) && !newlineUsed()) continue;
            p.gradForAccumulation();
        }
    }

    private boolean newlineUsed() {
        return options.patchMergeType().startsWith("spatial") && options.patchMergeType().contains("unpad");
    }

    private ExampleResult runExample(TrainingExample ex, Merged m, double scale, Function<String, float[]> gradients,
                                     boolean backward) {
        int h = config.text().hiddenSize();
        int rows = m.length();
        boolean visionTrained = backward && parameters.all().stream().anyMatch(p -> p.name().contains("vision_tower"));
        if (!backward) gradients = name -> null;
        // Images: features through the (trained or frozen) tower and the projector, kept for the backward.
        List<PreprocessedImage> images = ex.textOnly() ? List.of() : ex.images();
        List<ClipTraining.Pass> visionPasses = new ArrayList<>();
        List<float[]> features = new ArrayList<>();
        List<float[][]> projected = new ArrayList<>();
        for (PreprocessedImage img : images) {
            float[] f;
            if (visionTrained) {
                ClipTraining.Pass pass = new ClipTraining(visionTower).forward(img.pixelValues(), img.tiles());
                visionPasses.add(pass);
                f = pass.features;
            } else {
                f = visionTower.forward(img.pixelValues(), img.tiles());
            }
            features.add(f);
            projected.add(projector.forwardTraining(f, img.tiles() * visionTower.featuresPerTile()));
        }
        float[] embeds = new float[rows * h];
        for (int r = 0; r < rows; r++) {
            int image = m.imageOf()[r];
            if (image < 0) {
                languageModel.embed(m.textIds(), r, 1, embeds, r);
            } else {
                int src = m.imageRow()[r];
                if (src < 0) System.arraycopy(imageNewline, 0, embeds, r * h, h);
                else {
                    float[][] acts = projected.get(image);
                    System.arraycopy(acts[acts.length - 1], src * h, embeds, r * h, h);
                }
            }
        }
        OlmoTraining lm = new OlmoTraining(languageModel, adapters::get, dropoutSeed * 1_000_003L + ex.id().hashCode());
        OlmoTraining.Pass pass = lm.forward(embeds, rows);
        CausalLmLoss.Result loss = CausalLmLoss.compute(languageModel, pass.hidden, rows, m.labels(), scale, gradients);
        if (backward && scale > 0) {
            float[] dEmbeds = lm.backward(pass, loss.dHidden(), gradients);
            float[] dTable = gradients.apply(OlmoModel.PREFIX + "embed_tokens.weight");
            float[] dNewline = gradients.apply(IMAGE_NEWLINE);
            List<float[]> dProjected = new ArrayList<>();
            for (PreprocessedImage img : images) dProjected.add(new float[img.tiles() * visionTower.featuresPerTile() * h]);
            for (int r = 0; r < rows; r++) {
                int image = m.imageOf()[r];
                if (image < 0) {
                    int id = m.textIds()[r];
                    // nn.Embedding(padding_idx = pad): the pad row gets no lookup gradient
                    if (dTable != null && id != padTokenId) VectorMath.addInPlaceAt(dTable, id * h, dEmbeds, r * h, h);
                } else if (m.imageRow()[r] < 0) {
                    if (dNewline != null) VectorMath.addInPlaceAt(dNewline, 0, dEmbeds, r * h, h);
                } else {
                    VectorMath.addInPlaceAt(dProjected.get(image), m.imageRow()[r] * h, dEmbeds, r * h, h);
                }
            }
            for (int i = 0; i < images.size(); i++) {
                PreprocessedImage img = images.get(i);
                float[] dFeatures = projector.backward(features.get(i), projected.get(i), dProjected.get(i),
                        img.tiles() * visionTower.featuresPerTile(), gradients, visionTrained);
                if (visionTrained) new ClipTraining(visionTower).backward(visionPasses.get(i), dFeatures, gradients);
            }
        }
        return new ExampleResult(ex.id(), rows, loss.targets(), loss.sum(), m.labels());
    }

    @Override
    public void close() {
        base.close();
    }
}
