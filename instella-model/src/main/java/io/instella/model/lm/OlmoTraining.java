package io.instella.model.lm;

import io.instella.core.kernels.Activations;
import io.instella.core.kernels.AttentionBackward;
import io.instella.core.kernels.BlockedAttention;
import io.instella.core.kernels.LinearBackward;
import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.Norms;
import io.instella.core.kernels.VectorMath;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.TextConfig;

import java.util.function.Function;

/**
 * Training forward and explicit backward of {@link OlmoModel} over one whole sequence (positions 0..n-1), with
 * the model's own weights and core's kernels. The forward keeps only each decoder layer's input (activation
 * checkpointing, as HF's {@code gradient_checkpointing_enable}); the backward recomputes a layer's inside from its
 * input and then runs the layer backward (llm.c style: one explicit backward step per forward step).
 * <p>Gradients of trained weights are accumulated into the arrays that {@code gradients} returns for a weight's
 * checkpoint name (null = frozen: no weight gradient is computed for it, but gradients flow through it).
 */
public final class OlmoTraining {
    private final OlmoModel model;
    private final TextConfig config;
    /** LoRA adapters by the adapted weight's name (null = none). */
    private final Function<String, LowRankAdapter> adapters;
    /** Seeds the adapters' dropout masks: one value per step, mixed with the layer and weight. */
    private final long dropoutSeed;

    public OlmoTraining(OlmoModel model) {
        this(model, name -> null, 0);
    }

    public OlmoTraining(OlmoModel model, Function<String, LowRankAdapter> adapters, long dropoutSeed) {
        this.model = model;
        this.adapters = adapters;
        this.dropoutSeed = dropoutSeed;
        this.config = model.config();
        if (config.clipQkv() != null) {
            throw new UnsupportedOperationException("training a model with clip_qkv is not supported yet (OLMo-1B has none)");
        }
    }

    /** A forward pass kept for the backward: each layer's input and the input of the final LayerNorm. */
    public static final class Pass {
        final int n;
        final float[][] layerInputs;
        final float[] finalInput;
        /** The final LayerNorm's output [n, hidden]: what the head reads. */
        public final float[] hidden;

        Pass(int n, float[][] layerInputs, float[] finalInput, float[] hidden) {
            this.n = n;
            this.layerInputs = layerInputs;
            this.finalInput = finalInput;
            this.hidden = hidden;
        }

        public int rows() { return n; }
    }

    /** The intermediate values of one layer, recomputed in backward (never all layers at once). */
    private static final class LayerState {
        float[] normed1, q, k, v, attn, mid, normed2, gate, up, act;
    }

    /** Runs the decoder over n rows of input embeddings ([n, hidden]) as one causal sequence. */
    public Pass forward(float[] inputEmbeds, int n) {
        int h = config.hiddenSize();
        float[][] inputs = new float[model.numLayers()][];
        float[] x = java.util.Arrays.copyOf(inputEmbeds, n * h);
        for (int l = 0; l < model.numLayers(); l++) {
            inputs[l] = x.clone();
            x = layerForward(l, x, n).mid; // layerForward leaves the layer output in 'mid' after the MLP residual
        }
        float[] hidden = new float[n * h];
        Norms.layerNorm(x, hidden, n, h, null, null, config.layerNormEps());
        return new Pass(n, inputs, x, hidden);
    }

    /** One layer on a copy of x; returns its state with the layer output in {@code mid} (see {@link #forward}). */
    private LayerState layerForward(int l, float[] xIn, int n) {
        LayerState s = recompute(l, xIn, n);
        float[] out = s.mid.clone();
        float[] proj = new float[n * config.hiddenSize()];
        MatMul.linear(s.act, 0, n, model.layer(l).down(), null, proj, 0);
        adapt(model.layer(l).down(), s.act, n, proj);
        VectorMath.addInPlace(out, proj, n * config.hiddenSize());
        LayerState r = new LayerState();
        r.mid = out;
        return r;
    }

    /** The layer's inside from its input: everything up to the down projection's input. */
    private LayerState recompute(int l, float[] xIn, int n) {
        int h = config.hiddenSize(), kvDim = config.kvDim(), inter = config.intermediateSize();
        float eps = config.layerNormEps();
        OlmoModel.Layer w = model.layer(l);
        LayerState s = new LayerState();
        s.normed1 = new float[n * h];
        Norms.layerNorm(xIn, s.normed1, n, h, null, null, eps);
        s.q = new float[n * h];
        s.k = new float[n * kvDim];
        s.v = new float[n * kvDim];
        MatMul.linear(s.normed1, 0, n, new Tensor[]{w.q(), w.k(), w.v()}, new float[][]{w.qBias(), w.kBias(), w.vBias()},
                new float[][]{s.q, s.k, s.v});
        adapt(w.q(), s.normed1, n, s.q);
        adapt(w.k(), s.normed1, n, s.k);
        adapt(w.v(), s.normed1, n, s.v);
        model.rope().apply(s.q, 0, n, config.numHeads(), 0);
        model.rope().apply(s.k, 0, n, config.numKvHeads(), 0);
        s.attn = new float[n * h];
        int hd = config.headDim();
        float scale = (float) (1.0 / Math.sqrt(hd));
        BlockedAttention.attention(s.q, 0, h, s.k, s.v, 0, kvDim, n, n, 0, true, config.numHeads(), config.numKvHeads(), hd,
                scale, s.attn, 0, h);
        s.mid = xIn.clone();
        float[] proj = new float[n * h];
        MatMul.linear(s.attn, 0, n, w.o(), w.oBias(), proj, 0);
        adapt(w.o(), s.attn, n, proj);
        VectorMath.addInPlace(s.mid, proj, n * h);
        s.normed2 = new float[n * h];
        Norms.layerNorm(s.mid, s.normed2, n, h, null, null, eps);
        s.gate = new float[n * inter];
        s.up = new float[n * inter];
        MatMul.linear(s.normed2, 0, n, new Tensor[]{w.gate(), w.up()}, null, new float[][]{s.gate, s.up});
        adapt(w.gate(), s.normed2, n, s.gate);
        adapt(w.up(), s.normed2, n, s.up);
        s.act = s.gate.clone();
        Activations.swiglu(s.act, s.up, n * inter);
        return s;
    }

    /**
     * Backward from the gradient of the final LayerNorm's output ([n, hidden]); returns the gradient of the input
     * embeddings and accumulates the trained weights' gradients.
     */
    public float[] backward(Pass pass, float[] dHidden, Function<String, float[]> gradients) {
        int n = pass.n, h = config.hiddenSize();
        float[] dx = new float[n * h];
        Norms.layerNormBackward(pass.finalInput, dHidden, dx, n, h, null, null, null, config.layerNormEps(), false);
        for (int l = model.numLayers() - 1; l >= 0; l--) dx = layerBackward(l, pass.layerInputs[l], dx, n, gradients);
        return dx;
    }

    /** d(layer input) from d(layer output); the residual stream passes dOut through unchanged. */
    private float[] layerBackward(int l, float[] xIn, float[] dOut, int n, Function<String, float[]> gradients) {
        int h = config.hiddenSize(), kvDim = config.kvDim(), inter = config.intermediateSize();
        float eps = config.layerNormEps();
        OlmoModel.Layer w = model.layer(l);
        LayerState s = recompute(l, xIn, n);

        // MLP: out = mid + down(silu(gate) * up)
        float[] dAct = new float[n * inter];
        linearBackward(dOut, s.act, n, w.down(), null, dAct, false, gradients);
        float[] dGate = new float[n * inter], dUp = new float[n * inter];
        Activations.swigluBackward(s.gate, s.up, dAct, dGate, dUp, n * inter);
        float[] dNormed2 = new float[n * h];
        linearBackward(dGate, s.normed2, n, w.gate(), null, dNormed2, false, gradients);
        linearBackward(dUp, s.normed2, n, w.up(), null, dNormed2, true, gradients);
        float[] dMid = dOut.clone();
        Norms.layerNormBackward(s.mid, dNormed2, dMid, n, h, null, null, null, eps, true);

        // Attention: mid = x + o(attention(rope(q), rope(k), v))
        float[] dAttn = new float[n * h];
        linearBackward(dMid, s.attn, n, w.o(), w.oBias(), dAttn, false, gradients);
        float[] dq = new float[n * h], dk = new float[n * kvDim], dv = new float[n * kvDim];
        int hd = config.headDim();
        AttentionBackward.backward(s.q, 0, h, s.k, s.v, 0, kvDim, n, true, config.numHeads(), config.numKvHeads(), hd,
                (float) (1.0 / Math.sqrt(hd)), dAttn, dq, dk, dv);
        model.rope().applyBackward(dq, 0, n, config.numHeads(), 0);
        model.rope().applyBackward(dk, 0, n, config.numKvHeads(), 0);
        float[] dNormed1 = new float[n * h];
        linearBackward(dq, s.normed1, n, w.q(), w.qBias(), dNormed1, false, gradients);
        linearBackward(dk, s.normed1, n, w.k(), w.kBias(), dNormed1, true, gradients);
        linearBackward(dv, s.normed1, n, w.v(), w.vBias(), dNormed1, true, gradients);
        float[] dIn = dMid; // residual
        Norms.layerNormBackward(xIn, dNormed1, dIn, n, h, null, null, null, eps, true);
        return dIn;
    }

    /** A weight's adapter output added to y (nothing when the weight has none). */
    private void adapt(Tensor w, float[] x, int n, float[] y) {
        LowRankAdapter a = adapters.apply(w.name());
        if (a != null) a.forward(x, n, y, seed(w));
    }

    private long seed(Tensor w) {
        return dropoutSeed * 0x9E3779B97F4A7C15L + w.name().hashCode();
    }

    /**
     * For y = x·Wᵀ (+ b) (+ LoRA): dx (+)= dy·W, and the weight's (and bias's) gradient when trained, and the adapter's.
     * Bias names follow the weight's ({@code ….weight} → {@code ….bias}).
     */
    private void linearBackward(float[] dy, float[] x, int n, Tensor w, float[] bias, float[] dx, boolean accumulate,
                                Function<String, float[]> gradients) {
        LinearBackward.inputGrad(dy, n, w, dx, accumulate);
        LowRankAdapter a = adapters.apply(w.name());
        if (a != null) a.backward(x, dy, n, dx, seed(w), gradients);
        float[] dW = gradients.apply(w.name());
        float[] dB = bias == null ? null : gradients.apply(biasName(w.name()));
        if (dW != null || dB != null) LinearBackward.weightGrad(dy, x, n, (int) w.dim(0), (int) w.dim(1), dW, dB);
    }

    static String biasName(String weightName) {
        return weightName.endsWith(".weight") ? weightName.substring(0, weightName.length() - ".weight".length()) + ".bias" : weightName + ".bias";
    }
}
