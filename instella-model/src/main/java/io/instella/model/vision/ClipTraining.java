package io.instella.model.vision;

import io.instella.core.kernels.AttentionBackward;
import io.instella.core.kernels.LinearBackward;
import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.Norms;
import io.instella.core.kernels.VectorMath;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.VisionConfig;

import java.util.function.Function;

/**
 * Training forward and explicit backward of {@link ClipVisionTower} up to its selected layer, with the tower's own
 * weights and kernels. The forward keeps each encoder layer's input (activation checkpointing); the backward
 * recomputes a layer's inside and runs its backward, then the embeddings' (pre_layrnorm, position and class
 * embeddings, the patch convolution as a GEMM over flattened patches). Layers after the selected one and
 * post_layernorm never run, so they get no gradient (as upstream: gradient None).
 */
public final class ClipTraining {
    private static final String P = ClipVisionTower.PREFIX;
    private final ClipVisionTower tower;
    private final VisionConfig config;

    public ClipTraining(ClipVisionTower tower) {
        this.tower = tower;
        this.config = tower.config();
    }

    /** A forward pass kept for the backward. */
    public static final class Pass {
        final float[] pixels;
        final int tiles;
        final float[] embeddings;     // before pre_layrnorm
        final float[][] layerInputs;
        /** The selected features [tiles · featuresPerTile, D]. */
        public final float[] features;

        Pass(float[] pixels, int tiles, float[] embeddings, float[][] layerInputs, float[] features) {
            this.pixels = pixels;
            this.tiles = tiles;
            this.embeddings = embeddings;
            this.layerInputs = layerInputs;
            this.features = features;
        }
    }

    private static final class LayerState {
        float[] normed1, q, k, v, attn, mid, normed2, fc1, act;
    }

    public Pass forward(float[] pixels, int tiles) {
        int d = config.hiddenSize(), rows = tiles * (config.numPatches() + 1);
        float[] emb = tower.embed(pixels, tiles);
        float[] x = new float[rows * d];
        Norms.layerNorm(emb, x, rows, d, tower.preLnWeight(), tower.preLnBias(), config.layerNormEps());
        float[][] inputs = new float[tower.layersRun()][];
        for (int l = 0; l < tower.layersRun(); l++) {
            inputs[l] = x;
            LayerState s = recompute(l, x, tiles);
            float[] out = s.mid.clone();
            float[] proj = new float[rows * d];
            ClipVisionTower.Layer w = tower.layer(l);
            MatMul.linear(s.act, rows, w.fc2(), w.fc2Bias(), proj);
            VectorMath.addInPlace(out, proj, rows * d);
            x = out;
        }
        return new Pass(pixels, tiles, emb, inputs, select(x, tiles));
    }

    private float[] select(float[] x, int tiles) {
        int d = config.hiddenSize(), tokens = config.numPatches() + 1, keep = tower.featuresPerTile();
        if (keep == tokens) return x;
        float[] out = new float[tiles * keep * d];
        for (int t = 0; t < tiles; t++) System.arraycopy(x, (t * tokens + 1) * d, out, t * keep * d, keep * d);
        return out;
    }

    private LayerState recompute(int l, float[] xIn, int tiles) {
        int d = config.hiddenSize(), rows = tiles * (config.numPatches() + 1), inter = config.intermediateSize();
        float eps = config.layerNormEps();
        ClipVisionTower.Layer w = tower.layer(l);
        LayerState s = new LayerState();
        s.normed1 = new float[rows * d];
        Norms.layerNorm(xIn, s.normed1, rows, d, w.ln1Weight(), w.ln1Bias(), eps);
        s.q = new float[rows * d];
        s.k = new float[rows * d];
        s.v = new float[rows * d];
        MatMul.linear(s.normed1, rows, w.q(), w.qBias(), s.q);
        MatMul.linear(s.normed1, rows, w.k(), w.kBias(), s.k);
        MatMul.linear(s.normed1, rows, w.v(), w.vBias(), s.v);
        s.attn = new float[rows * d];
        tower.selfAttention(s.q, s.k, s.v, tiles, config.numPatches() + 1, s.attn);
        s.mid = xIn.clone();
        float[] proj = new float[rows * d];
        MatMul.linear(s.attn, rows, w.out(), w.outBias(), proj);
        VectorMath.addInPlace(s.mid, proj, rows * d);
        s.normed2 = new float[rows * d];
        Norms.layerNorm(s.mid, s.normed2, rows, d, w.ln2Weight(), w.ln2Bias(), eps);
        s.fc1 = new float[rows * inter];
        MatMul.linear(s.normed2, rows, w.fc1(), w.fc1Bias(), s.fc1);
        s.act = s.fc1.clone();
        tower.activation(s.act, rows * inter);
        return s;
    }

    /** Backward from the gradient of the selected features; accumulates every trained tensor's gradient. */
    public void backward(Pass pass, float[] dFeatures, Function<String, float[]> gradients) {
        int d = config.hiddenSize(), tokens = config.numPatches() + 1, rows = pass.tiles * tokens;
        int keep = tower.featuresPerTile();
        float[] dx = new float[rows * d];
        if (keep == tokens) {
            System.arraycopy(dFeatures, 0, dx, 0, rows * d);
        } else {
            for (int t = 0; t < pass.tiles; t++) System.arraycopy(dFeatures, t * keep * d, dx, (t * tokens + 1) * d, keep * d);
        }
        for (int l = tower.layersRun() - 1; l >= 0; l--) dx = layerBackward(l, pass.layerInputs[l], dx, pass.tiles, gradients);
        float[] dEmb = new float[rows * d];
        Norms.layerNormBackward(pass.embeddings, dx, dEmb, rows, d, tower.preLnWeight(),
                gradients.apply(P + "pre_layrnorm.weight"), gradients.apply(P + "pre_layrnorm.bias"), config.layerNormEps(), false);
        embeddingsBackward(pass, dEmb, gradients);
    }

    private void embeddingsBackward(Pass pass, float[] dEmb, Function<String, float[]> gradients) {
        int d = config.hiddenSize(), patches = config.numPatches(), tokens = patches + 1;
        float[] dCls = gradients.apply(P + "embeddings.class_embedding");
        float[] dPos = gradients.apply(P + "embeddings.position_embedding.weight");
        for (int t = 0; t < pass.tiles; t++) {
            int base = t * tokens * d;
            if (dCls != null) VectorMath.addInPlaceAt(dCls, 0, dEmb, base, d);
            if (dPos != null) VectorMath.addInPlaceAt(dPos, 0, dEmb, base, tokens * d);
        }
        float[] dConv = gradients.apply(tower.patchWeight().name());
        if (dConv != null) {
            float[] dPatch = new float[pass.tiles * patches * d];
            for (int t = 0; t < pass.tiles; t++) System.arraycopy(dEmb, (t * tokens + 1) * d, dPatch, t * patches * d, patches * d);
            float[] flat = tower.flattenPatches(pass.pixels, pass.tiles);
            Tensor w = tower.patchWeight();
            LinearBackward.weightGrad(dPatch, flat, pass.tiles * patches, (int) w.dim(0), (int) w.dim(1), dConv, null);
        }
    }

    private float[] layerBackward(int l, float[] xIn, float[] dOut, int tiles, Function<String, float[]> gradients) {
        int d = config.hiddenSize(), tokens = config.numPatches() + 1, rows = tiles * tokens, inter = config.intermediateSize();
        float eps = config.layerNormEps();
        ClipVisionTower.Layer w = tower.layer(l);
        String name = P + "encoder.layers." + l + ".";
        LayerState s = recompute(l, xIn, tiles);

        float[] dAct = new float[rows * inter];
        linearBackward(dOut, s.act, rows, w.fc2(), w.fc2Bias(), dAct, false, gradients);
        tower.activationBackward(s.fc1, dAct, rows * inter);
        float[] dNormed2 = new float[rows * d];
        linearBackward(dAct, s.normed2, rows, w.fc1(), w.fc1Bias(), dNormed2, false, gradients);
        float[] dMid = dOut.clone();
        Norms.layerNormBackward(s.mid, dNormed2, dMid, rows, d, w.ln2Weight(), gradients.apply(name + "layer_norm2.weight"),
                gradients.apply(name + "layer_norm2.bias"), eps, true);

        float[] dAttn = new float[rows * d];
        linearBackward(dMid, s.attn, rows, w.out(), w.outBias(), dAttn, false, gradients);
        float[] dq = new float[rows * d], dk = new float[rows * d], dv = new float[rows * d];
        int hd = config.headDim();
        float scale = (float) Math.pow(hd, -0.5);
        for (int t = 0; t < tiles; t++) {
            int base = t * tokens * d;
            AttentionBackward.backward(s.q, base, d, s.k, s.v, base, d, tokens, false, config.numHeads(), config.numHeads(), hd,
                    scale, dAttn, dq, dk, dv);
        }
        float[] dNormed1 = new float[rows * d];
        linearBackward(dq, s.normed1, rows, w.q(), w.qBias(), dNormed1, false, gradients);
        linearBackward(dk, s.normed1, rows, w.k(), w.kBias(), dNormed1, true, gradients);
        linearBackward(dv, s.normed1, rows, w.v(), w.vBias(), dNormed1, true, gradients);
        float[] dIn = dMid;
        Norms.layerNormBackward(xIn, dNormed1, dIn, rows, d, w.ln1Weight(), gradients.apply(name + "layer_norm1.weight"),
                gradients.apply(name + "layer_norm1.bias"), eps, true);
        return dIn;
    }

    private static void linearBackward(float[] dy, float[] x, int n, Tensor w, float[] bias, float[] dx, boolean accumulate,
                                       Function<String, float[]> gradients) {
        LinearBackward.inputGrad(dy, n, w, dx, accumulate);
        String weight = w.name();
        float[] dW = gradients.apply(weight);
        float[] dB = bias == null ? null : gradients.apply(weight.substring(0, weight.length() - ".weight".length()) + ".bias");
        if (dW != null || dB != null) LinearBackward.weightGrad(dy, x, n, (int) w.dim(0), (int) w.dim(1), dW, dB);
    }
}
