package io.instella.model.vision;

import io.instella.core.kernels.Activations;
import io.instella.core.kernels.Attention;
import io.instella.core.kernels.BlockedAttention;
import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.Norms;
import io.instella.core.kernels.Parallel;
import io.instella.core.kernels.VectorMath;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.VisionConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The CLIP ViT vision tower as HF {@code CLIPVisionModel} computes it (spec §2): patch convolution without
 * bias, class token, position embeddings, {@code pre_layrnorm}, pre-norm encoder layers with quick_gelu
 * MLPs. Only the layers up to the selected hidden state run ({@code mm_vision_select_layer} -2 = output
 * of the second-to-last layer); the last layer and {@code post_layernorm} never influence the output.
 * Weights come from the Instella checkpoint ({@code model.vision_tower.vision_tower.vision_model.*}).
 */
public final class ClipVisionTower {
    public static final String PREFIX = "model.vision_tower.vision_tower.vision_model.";

    private final VisionConfig config;
    private final int layersToRun;
    private final boolean keepCls;
    private final Tensor patchWeight;   // [D, C*P*P] view of the Conv2d weight
    private final float[] classEmbedding;
    private final float[] positionEmbedding; // [tokens, D]
    private final float[] preLnWeight, preLnBias;
    private final Layer[] layers;

    public record Layer(float[] ln1Weight, float[] ln1Bias, Tensor q, float[] qBias, Tensor k, float[] kBias,
                        Tensor v, float[] vBias, Tensor out, float[] outBias, float[] ln2Weight, float[] ln2Bias,
                        Tensor fc1, float[] fc1Bias, Tensor fc2, float[] fc2Bias) {}

    /**
     * @param selectLayer index into hidden_states (0 = embeddings after pre_layrnorm, -1 = last layer output)
     * @param selectFeature "patch" drops the class token, "cls_patch" keeps it
     */
    public ClipVisionTower(VisionConfig config, Checkpoint ckpt, int selectLayer, String selectFeature) {
        this(config, ckpt, selectLayer, selectFeature, UnaryOperator.identity());
    }

    /**
     * @param linearWeights applied to every encoder-layer projection weight (q, k, v, out, fc1, fc2) as it is
     *                      loaded (e.g. quantization); the patch embedding, norms and position embeddings stay as stored
     */
    public ClipVisionTower(VisionConfig config, Checkpoint ckpt, int selectLayer, String selectFeature,
                           UnaryOperator<Tensor> linearWeights) {
        this.config = config;
        int states = config.numLayers() + 1;
        int index = selectLayer < 0 ? states + selectLayer : selectLayer;
        this.layersToRun = index;
        this.keepCls = "cls_patch".equals(selectFeature);
        int d = config.hiddenSize(), c = config.numChannels(), p = config.patchSize(), inter = config.intermediateSize();
        int tokens = config.numPatches() + 1;
        Tensor conv = ckpt.get(PREFIX + "embeddings.patch_embedding.weight", d, c, p, p);
        this.patchWeight = new Tensor(conv.name(), conv.dtype(), new long[]{d, (long) c * p * p}, conv.data());
        this.classEmbedding = ckpt.get(PREFIX + "embeddings.class_embedding", d).toFloatArray();
        this.positionEmbedding = ckpt.get(PREFIX + "embeddings.position_embedding.weight", tokens, d).toFloatArray();
        this.preLnWeight = ckpt.get(PREFIX + "pre_layrnorm.weight", d).toFloatArray();
        this.preLnBias = ckpt.get(PREFIX + "pre_layrnorm.bias", d).toFloatArray();
        this.layers = new Layer[layersToRun];
        for (int i = 0; i < layersToRun; i++) {
            String l = PREFIX + "encoder.layers." + i + ".";
            layers[i] = new Layer(
                    ckpt.get(l + "layer_norm1.weight", d).toFloatArray(), ckpt.get(l + "layer_norm1.bias", d).toFloatArray(),
                    linearWeights.apply(ckpt.get(l + "self_attn.q_proj.weight", d, d)), ckpt.get(l + "self_attn.q_proj.bias", d).toFloatArray(),
                    linearWeights.apply(ckpt.get(l + "self_attn.k_proj.weight", d, d)), ckpt.get(l + "self_attn.k_proj.bias", d).toFloatArray(),
                    linearWeights.apply(ckpt.get(l + "self_attn.v_proj.weight", d, d)), ckpt.get(l + "self_attn.v_proj.bias", d).toFloatArray(),
                    linearWeights.apply(ckpt.get(l + "self_attn.out_proj.weight", d, d)), ckpt.get(l + "self_attn.out_proj.bias", d).toFloatArray(),
                    ckpt.get(l + "layer_norm2.weight", d).toFloatArray(), ckpt.get(l + "layer_norm2.bias", d).toFloatArray(),
                    linearWeights.apply(ckpt.get(l + "mlp.fc1.weight", inter, d)), ckpt.get(l + "mlp.fc1.bias", inter).toFloatArray(),
                    linearWeights.apply(ckpt.get(l + "mlp.fc2.weight", d, inter)), ckpt.get(l + "mlp.fc2.bias", d).toFloatArray());
        }
    }

    /** Every tensor name of a full CLIP vision model in the checkpoint (all layers and post_layernorm). */
    public static List<String> tensorNames(VisionConfig c) {
        List<String> names = new ArrayList<>(List.of(
                PREFIX + "embeddings.class_embedding", PREFIX + "embeddings.patch_embedding.weight",
                PREFIX + "embeddings.position_embedding.weight", PREFIX + "pre_layrnorm.weight", PREFIX + "pre_layrnorm.bias",
                PREFIX + "post_layernorm.weight", PREFIX + "post_layernorm.bias"));
        for (int i = 0; i < c.numLayers(); i++) {
            String l = PREFIX + "encoder.layers." + i + ".";
            for (String w : new String[]{"layer_norm1", "layer_norm2", "self_attn.q_proj", "self_attn.k_proj",
                    "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2"}) {
                names.add(l + w + ".weight");
                names.add(l + w + ".bias");
            }
        }
        return names;
    }

    public VisionConfig config() { return config; }

    /** Encoder layers that run (up to the selected hidden state). */
    public int layersRun() { return layers.length; }

    /** Bytes of the weights this tower holds (the layers it runs, embeddings, norms). */
    public long weightBytes() {
        long b = patchWeight.byteSize() + 4L * (classEmbedding.length + positionEmbedding.length + preLnWeight.length + preLnBias.length);
        for (Layer w : layers) {
            for (Tensor t : new Tensor[]{w.q, w.k, w.v, w.out, w.fc1, w.fc2}) b += t.byteSize();
            b += 4L * (w.ln1Weight.length * 4L + w.qBias.length * 4L + w.fc1Bias.length + w.fc2Bias.length);
        }
        return b;
    }

    /** Feature rows per tile: patches, plus the class token for "cls_patch". */
    public int featuresPerTile() { return config.numPatches() + (keepCls ? 1 : 0); }

    /**
     * Encodes {@code tiles} normalised tiles ([tiles, C, S, S] floats) and returns the selected hidden
     * state per tile: [tiles, featuresPerTile, D].
     */
    public float[] forward(float[] pixelValues, int tiles) {
        int d = config.hiddenSize();
        int tokens = config.numPatches() + 1;
        int rows = tiles * tokens;
        float[] x = embed(pixelValues, tiles);
        Norms.layerNorm(x, x, rows, d, preLnWeight, preLnBias, config.layerNormEps());
        float[] normed = new float[rows * d];
        float[] q = new float[rows * d], k = new float[rows * d], v = new float[rows * d];
        float[] attn = new float[rows * d], proj = new float[rows * d];
        float[] mlp = new float[rows * config.intermediateSize()];
        for (Layer w : layers) {
            Norms.layerNorm(x, normed, rows, d, w.ln1Weight, w.ln1Bias, config.layerNormEps());
            MatMul.linear(normed, rows, w.q, w.qBias, q);
            MatMul.linear(normed, rows, w.k, w.kBias, k);
            MatMul.linear(normed, rows, w.v, w.vBias, v);
            // HF scales q by head_dim^-0.5 after the projection; folding the scale into the scores is the same product.
            selfAttention(q, k, v, tiles, tokens, attn);
            MatMul.linear(attn, rows, w.out, w.outBias, proj);
            VectorMath.addInPlace(x, proj, rows * d);
            Norms.layerNorm(x, normed, rows, d, w.ln2Weight, w.ln2Bias, config.layerNormEps());
            MatMul.linear(normed, rows, w.fc1, w.fc1Bias, mlp);
            activation(mlp, rows * config.intermediateSize());
            MatMul.linear(mlp, rows, w.fc2, w.fc2Bias, proj);
            VectorMath.addInPlace(x, proj, rows * d);
        }
        int keep = featuresPerTile();
        if (keep == tokens) return x;
        float[] out = new float[tiles * keep * d];
        for (int t = 0; t < tiles; t++) {
            System.arraycopy(x, (t * tokens + 1) * d, out, t * keep * d, keep * d);
        }
        return out;
    }

    void activation(float[] a, int n) {
        switch (config.hiddenAct()) {
            case "quick_gelu" -> Activations.quickGelu(a, n);
            case "gelu" -> Activations.gelu(a, n);
            default -> Activations.geluTanh(a, n);
        }
    }

    /** Patch conv as a matmul over flattened patches, then class token and position embeddings. */
    float[] embed(float[] pixels, int tiles) {
        int d = config.hiddenSize(), patches = config.numPatches(), tokens = patches + 1;
        float[] flat = flattenPatches(pixels, tiles);
        float[] patchEmb = new float[tiles * patches * d];
        MatMul.linear(flat, tiles * patches, patchWeight, null, patchEmb);
        float[] x = new float[tiles * tokens * d];
        for (int t = 0; t < tiles; t++) {
            int base = t * tokens * d;
            for (int j = 0; j < d; j++) x[base + j] = classEmbedding[j] + positionEmbedding[j];
            for (int i = 0; i < patches; i++) {
                int src = (t * patches + i) * d, dst = base + (i + 1) * d, pos = (i + 1) * d;
                for (int j = 0; j < d; j++) x[dst + j] = patchEmb[src + j] + positionEmbedding[pos + j];
            }
        }
        return x;
    }

    /** The conv's input as rows: [tiles · patches, C·P·P], each patch's channels, rows and columns in weight order. */
    float[] flattenPatches(float[] pixels, int tiles) {
        int c = config.numChannels(), p = config.patchSize(), s = config.imageSize();
        int side = config.patchesPerSide(), patches = config.numPatches();
        int patchLen = c * p * p;
        if (pixels.length != tiles * c * s * s) {
            throw new IllegalArgumentException("pixel_values has " + pixels.length + " floats, expected " + tiles + "×" + c + "×" + s + "×" + s);
        }
        float[] flat = new float[tiles * patches * patchLen];
        Parallel.forRange(tiles * patches, 64, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                int t = i / patches, pi = i % patches, py = pi / side, px = pi % side;
                int dst = i * patchLen;
                for (int ch = 0; ch < c; ch++) {
                    int plane = (t * c + ch) * s * s;
                    for (int ky = 0; ky < p; ky++) {
                        System.arraycopy(pixels, plane + (py * p + ky) * s + px * p, flat, dst + (ch * p + ky) * p, p);
                    }
                }
            }
        });
        return flat;
    }

    Tensor patchWeight() { return patchWeight; }

    float[] preLnWeight() { return preLnWeight; }

    float[] preLnBias() { return preLnBias; }

    Layer layer(int i) { return layers[i]; }

    boolean keepsCls() { return keepCls; }

    /** The activation's backward from its input (in place of dy). */
    void activationBackward(float[] x, float[] dy, int n) {
        switch (config.hiddenAct()) {
            case "quick_gelu" -> Activations.quickGeluBackward(x, dy, n);
            case "gelu" -> Activations.geluBackward(x, dy, n);
            default -> Activations.geluTanhBackward(x, dy, n);
        }
    }

    /** Bidirectional attention within each tile, all heads. */
    void selfAttention(float[] q, float[] k, float[] v, int tiles, int tokens, float[] out) {
        int d = config.hiddenSize(), heads = config.numHeads(), hd = config.headDim();
        float scale = (float) Math.pow(hd, -0.5);
        if (hd % io.instella.core.kernels.Vectors.FLOAT.length() == 0) {
            for (int t = 0; t < tiles; t++) {
                int base = t * tokens * d;
                BlockedAttention.attention(q, base, d, k, v, base, d, tokens, tokens, 0, false, heads, heads, hd, scale,
                        out, base, d);
            }
            return;
        }
        int perTile = heads * tokens;
        Parallel.forRange(tiles * perTile, 16, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                int t = i / perTile, r = i % perTile, head = r / tokens, row = r % tokens;
                int base = t * tokens * d;
                Attention.attendRow(q, base + row * d + head * hd, k, v, base + head * hd, d, tokens, hd, scale,
                        out, base + row * d + head * hd);
            }
        });
    }
}
