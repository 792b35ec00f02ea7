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
 * the model's own weights and core's kernels. The forward keeps each decoder layer's input and, when they fit in the
 * heap (see {@link #keepActivations}), the layer's inside (q, k, v, attention output, residual, gate, up); otherwise
 * the backward recomputes a layer's inside from its input (activation checkpointing, as HF's
 * {@code gradient_checkpointing_enable}) and then runs the layer backward (llm.c style: one explicit backward step per
 * forward step). Both ways compute the same values bit for bit: recomputing only costs a second forward.
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
        /** Each layer's inside from the forward, or null where the backward recomputes it. */
        final LayerState[] states;
        final float[] finalInput;
        /** The final LayerNorm's output [n, hidden]: what the head reads. */
        public final float[] hidden;

        Pass(int n, float[][] layerInputs, LayerState[] states, float[] finalInput, float[] hidden) {
            this.n = n;
            this.layerInputs = layerInputs;
            this.states = states;
            this.finalInput = finalInput;
            this.hidden = hidden;
        }

        public int rows() { return n; }
    }

    /** The intermediate values of one layer, recomputed in backward (never all layers at once). */
    private static final class LayerState {
        float[] normed1, q, k, v, attn, mid, normed2, gate, up, act;
        int rows;
    }

    /** a when it holds exactly size floats, else a new array. */
    private static float[] sized(float[] a, int size) {
        return a != null && a.length == size ? a : new float[size];
    }

    /** Runs the decoder over n rows of input embeddings ([n, hidden]) as one causal sequence. */
    public Pass forward(float[] inputEmbeds, int n) {
        int h = config.hiddenSize();
        int layers = model.numLayers();
        float[][] inputs = new float[layers][];
        LayerState[] states = new LayerState[layers];
        boolean keep = keepActivations((long) layers * n * (3L * h + 2L * config.kvDim() + 2L * config.intermediateSize()) * Float.BYTES);
        float[] x = java.util.Arrays.copyOf(inputEmbeds, n * h);
        float[] proj = new float[n * h];
        for (int l = 0; l < layers; l++) {
            inputs[l] = x;
            LayerState sc = scratch(n), s = sc;
            if (keep) {
                // Fresh arrays for what is kept; the LayerNorm outputs and the activation reuse the scratch's.
                s = new LayerState();
                s.normed1 = sc.normed1;
                s.normed2 = sc.normed2;
                s.act = sc.act;
            }
            recompute(l, x, n, s);
            // The layer output: mid + down(act).
            float[] out = s.mid.clone();
            MatMul.linear(s.act, 0, n, model.layer(l).down(), null, proj, 0);
            adapt(model.layer(l).down(), s.act, n, proj);
            VectorMath.addInPlace(out, proj, n * h);
            if (keep) {
                // LayerNorm outputs and the activation are cheap to recompute: keep only what costs GEMMs.
                sc.normed1 = s.normed1;
                sc.normed2 = s.normed2;
                sc.act = s.act;
                s.normed1 = null;
                s.normed2 = null;
                s.act = null;
                states[l] = s;
            }
            x = out;
        }
        float[] hidden = new float[n * h];
        Norms.layerNorm(x, hidden, n, h, null, null, config.layerNormEps());
        return new Pass(n, inputs, states, x, hidden);
    }

    /**
     * Whether the forward keeps every layer's inside (bytes in all) rather than the backward recomputing it: when it
     * takes at most a third of the heap and half of what is free now. -Dinstella.train.keepActivations=true|false
     * decides instead. The gradients are the same either way.
     */
    static boolean keepActivations(long bytes) {
        String forced = System.getProperty("instella.train.keepActivations");
        if (forced != null && !forced.isBlank()) return Boolean.parseBoolean(forced.trim());
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        return bytes <= rt.maxMemory() / 3 && bytes <= free / 2;
    }

    /** A layer state whose arrays are reused from layer to layer (this thread's, sized for n rows). */
    private LayerState scratch(int n) {
        LayerState s = scratch;
        if (s == null || s.rows != n) {
            s = new LayerState();
            s.rows = n;
            scratch = s;
        }
        return s;
    }

    /** Reused by {@link #scratch}: an OlmoTraining runs one sequence at a time. */
    private LayerState scratch;

    /** The layer's inside from its input, into s's arrays (reused when their size fits): up to the down projection's input. */
    private LayerState recompute(int l, float[] xIn, int n, LayerState s) {
        int h = config.hiddenSize(), kvDim = config.kvDim(), inter = config.intermediateSize();
        float eps = config.layerNormEps();
        OlmoModel.Layer w = model.layer(l);
        s.normed1 = sized(s.normed1, n * h);
        Norms.layerNorm(xIn, s.normed1, n, h, null, null, eps);
        s.q = sized(s.q, n * h);
        s.k = sized(s.k, n * kvDim);
        s.v = sized(s.v, n * kvDim);
        MatMul.linear(s.normed1, 0, n, new Tensor[]{w.q(), w.k(), w.v()}, new float[][]{w.qBias(), w.kBias(), w.vBias()},
                new float[][]{s.q, s.k, s.v});
        adapt(w.q(), s.normed1, n, s.q);
        adapt(w.k(), s.normed1, n, s.k);
        adapt(w.v(), s.normed1, n, s.v);
        model.rope().apply(s.q, 0, n, config.numHeads(), 0);
        model.rope().apply(s.k, 0, n, config.numKvHeads(), 0);
        s.attn = sized(s.attn, n * h);
        int hd = config.headDim();
        float scale = (float) (1.0 / Math.sqrt(hd));
        BlockedAttention.attention(s.q, 0, h, s.k, s.v, 0, kvDim, n, n, 0, true, config.numHeads(), config.numKvHeads(), hd,
                scale, s.attn, 0, h);
        s.mid = sized(s.mid, n * h);
        MatMul.linear(s.attn, 0, n, w.o(), w.oBias(), s.mid, 0);
        adapt(w.o(), s.attn, n, s.mid);
        VectorMath.addInPlace(s.mid, xIn, n * h); // proj + x: the same sum as x + proj
        s.normed2 = sized(s.normed2, n * h);
        Norms.layerNorm(s.mid, s.normed2, n, h, null, null, eps);
        s.gate = sized(s.gate, n * inter);
        s.up = sized(s.up, n * inter);
        MatMul.linear(s.normed2, 0, n, new Tensor[]{w.gate(), w.up()}, null, new float[][]{s.gate, s.up});
        adapt(w.gate(), s.normed2, n, s.gate);
        adapt(w.up(), s.normed2, n, s.up);
        activation(s, n * inter);
        return s;
    }

    /** s.act = silu(gate)·up. */
    private static void activation(LayerState s, int size) {
        s.act = sized(s.act, size);
        System.arraycopy(s.gate, 0, s.act, 0, size);
        Activations.swiglu(s.act, s.up, size);
    }

    /** Restores what the forward dropped from a kept state (see {@link #forward}) into this thread's buffers. */
    private LayerState restore(LayerState kept, float[] xIn, int n, Workspace ws) {
        int h = config.hiddenSize();
        float eps = config.layerNormEps();
        LayerState s = new LayerState();
        s.q = kept.q; s.k = kept.k; s.v = kept.v; s.attn = kept.attn; s.mid = kept.mid; s.gate = kept.gate; s.up = kept.up;
        s.normed1 = ws.normed1 = sized(ws.normed1, n * h);
        Norms.layerNorm(xIn, s.normed1, n, h, null, null, eps);
        s.normed2 = ws.normed2 = sized(ws.normed2, n * h);
        Norms.layerNorm(s.mid, s.normed2, n, h, null, null, eps);
        s.act = ws.act;
        activation(s, n * config.intermediateSize());
        ws.act = s.act;
        return s;
    }

    /** Gradient buffers reused from layer to layer by one backward. */
    private static final class Workspace {
        float[] normed1, normed2, act, dAct, dGate, dUp, dNormed2, dAttn, dq, dk, dv, dNormed1;
    }

    /**
     * Backward from the gradient of the final LayerNorm's output ([n, hidden]); returns the gradient of the input
     * embeddings and accumulates the trained weights' gradients.
     */
    public float[] backward(Pass pass, float[] dHidden, Function<String, float[]> gradients) {
        int n = pass.n, h = config.hiddenSize();
        float[] dx = new float[n * h];
        Norms.layerNormBackward(pass.finalInput, dHidden, dx, n, h, null, null, null, config.layerNormEps(), false);
        Workspace ws = new Workspace();
        for (int l = model.numLayers() - 1; l >= 0; l--) {
            LayerState kept = pass.states[l];
            pass.states[l] = null; // its arrays can go once the layer's gradients are done
            dx = layerBackward(l, pass.layerInputs[l], kept, dx, n, gradients, ws);
        }
        return dx;
    }

    /** d(layer input) from d(layer output); the residual stream passes dOut through unchanged. */
    private float[] layerBackward(int l, float[] xIn, LayerState kept, float[] dOut, int n,
                                  Function<String, float[]> gradients, Workspace ws) {
        int h = config.hiddenSize(), kvDim = config.kvDim(), inter = config.intermediateSize();
        float eps = config.layerNormEps();
        OlmoModel.Layer w = model.layer(l);
        LayerState s = kept != null ? restore(kept, xIn, n, ws) : recompute(l, xIn, n, scratch(n));

        // MLP: out = mid + down(silu(gate) * up)
        float[] dAct = ws.dAct = sized(ws.dAct, n * inter);
        linearBackward(dOut, s.act, n, w.down(), null, dAct, false, gradients);
        float[] dGate = ws.dGate = sized(ws.dGate, n * inter), dUp = ws.dUp = sized(ws.dUp, n * inter);
        Activations.swigluBackward(s.gate, s.up, dAct, dGate, dUp, n * inter);
        float[] dNormed2 = ws.dNormed2 = sized(ws.dNormed2, n * h);
        linearBackward(dGate, s.normed2, n, w.gate(), null, dNormed2, false, gradients);
        linearBackward(dUp, s.normed2, n, w.up(), null, dNormed2, true, gradients);
        float[] dMid = dOut.clone();
        Norms.layerNormBackward(s.mid, dNormed2, dMid, n, h, null, null, null, eps, true);

        // Attention: mid = x + o(attention(rope(q), rope(k), v))
        float[] dAttn = ws.dAttn = sized(ws.dAttn, n * h);
        linearBackward(dMid, s.attn, n, w.o(), w.oBias(), dAttn, false, gradients);
        float[] dq = ws.dq = sized(ws.dq, n * h), dk = ws.dk = sized(ws.dk, n * kvDim), dv = ws.dv = sized(ws.dv, n * kvDim);
        java.util.Arrays.fill(dk, 0f); // accumulated into by the attention backward
        java.util.Arrays.fill(dv, 0f);
        int hd = config.headDim();
        AttentionBackward.backward(s.q, 0, h, s.k, s.v, 0, kvDim, n, true, config.numHeads(), config.numKvHeads(), hd,
                (float) (1.0 / Math.sqrt(hd)), dAttn, dq, dk, dv);
        model.rope().applyBackward(dq, 0, n, config.numHeads(), 0);
        model.rope().applyBackward(dk, 0, n, config.numKvHeads(), 0);
        float[] dNormed1 = ws.dNormed1 = sized(ws.dNormed1, n * h);
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
