package io.instella.model.lm;

import io.instella.core.kernels.Activations;
import io.instella.core.kernels.Attention;
import io.instella.core.kernels.BlockedAttention;
import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.Norms;
import io.instella.core.kernels.Parallel;
import io.instella.core.kernels.Rope;
import io.instella.core.kernels.VectorMath;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.TextConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * AMD OLMo 1B as Hugging Face {@code OlmoForCausalLM} computes it (spec §8): pre-norm decoder layers with
 * a LayerNorm that has no weight or bias (eps 1e-5), rotate-half RoPE, causal softmax attention, SwiGLU MLP
 * {@code down(silu(gate(h)) * up(h))}, a final LayerNorm and a head tied to the embeddings.
 * Compute is float32; weights stay in their stored type. Inputs and outputs are explicit arrays so that
 * a backward pass can be written beside each step.
 */
public final class OlmoModel {
    /** Tensor names under the HF {@code model.} prefix. */
    public static final String PREFIX = "model.";
    /** The output head's tensor name (absent from tied checkpoints unless quantized ahead of time). */
    public static final String HEAD = "lm_head.weight";

    private final TextConfig config;
    private final Tensor embedTokens;
    private final Tensor lmHead;
    private final Layer[] layers;
    private final Grouped[] grouped;
    private final Rope rope;

    /** One decoder layer's weights. */
    public record Layer(Tensor q, Tensor k, Tensor v, Tensor o, Tensor gate, Tensor up, Tensor down,
                        float[] qBias, float[] kBias, float[] vBias, float[] oBias) {}

    /**
     * A layer's projections that read the same input, grouped once at load for the one-call matmuls (q/k/v and
     * gate/up), so the forward pass does not build these arrays per layer and token.
     */
    private record Grouped(Tensor[] qkv, float[][] qkvBias, Tensor[] gateUp) {
        static Grouped of(Layer w) {
            return new Grouped(new Tensor[]{w.q, w.k, w.v}, new float[][]{w.qBias, w.kBias, w.vBias}, new Tensor[]{w.gate, w.up});
        }
    }

    public OlmoModel(TextConfig config, Checkpoint ckpt) {
        this(config, ckpt, UnaryOperator.identity());
    }

    /**
     * @param linearWeights applied, as they are loaded, to every projection weight of the decoder layers and to
     *                      the output head; it decides by tensor name what to do (e.g. quantize to Q8_0/Q4_0, see
     *                      {@code io.instella.model.QuantizationPlan}). For a tied model the head is offered as
     *                      a view of the embeddings named {@code lm_head.weight}: returned unchanged, the head
     *                      stays the embedding table; the embeddings themselves are never transformed. A tied
     *                      checkpoint that carries a block-quantized {@code lm_head.weight} (an ahead-of-time
     *                      quantized file) uses it as the head.
     */
    public OlmoModel(TextConfig config, Checkpoint ckpt, UnaryOperator<Tensor> linearWeights) {
        this.config = config;
        int h = config.hiddenSize(), kv = config.kvDim(), inter = config.intermediateSize();
        this.embedTokens = ckpt.get(PREFIX + "embed_tokens.weight", config.vocabSize(), h);
        Tensor head;
        if (!config.tieWordEmbeddings()) {
            head = ckpt.get(HEAD, config.vocabSize(), h);
        } else if (ckpt.contains(HEAD) && ckpt.get(HEAD).dtype().isQuantized()) {
            head = ckpt.get(HEAD, config.vocabSize(), h);
        } else {
            head = new Tensor(HEAD, embedTokens.dtype(), embedTokens.shape(), embedTokens.data());
        }
        Tensor loadedHead = linearWeights.apply(head);
        this.lmHead = loadedHead.data() == embedTokens.data() ? embedTokens : loadedHead;
        // Only looked up row by row when the head is separate: keep just the rows read resident.
        if (lmHead != embedTokens) io.instella.core.safetensors.MappedMemory.randomAccess(embedTokens.data());
        this.layers = new Layer[config.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = PREFIX + "layers." + i + ".";
            boolean b = config.attentionBias();
            layers[i] = new Layer(
                    linearWeights.apply(ckpt.get(p + "self_attn.q_proj.weight", h, h)),
                    linearWeights.apply(ckpt.get(p + "self_attn.k_proj.weight", kv, h)),
                    linearWeights.apply(ckpt.get(p + "self_attn.v_proj.weight", kv, h)),
                    linearWeights.apply(ckpt.get(p + "self_attn.o_proj.weight", h, h)),
                    linearWeights.apply(ckpt.get(p + "mlp.gate_proj.weight", inter, h)),
                    linearWeights.apply(ckpt.get(p + "mlp.up_proj.weight", inter, h)),
                    linearWeights.apply(ckpt.get(p + "mlp.down_proj.weight", h, inter)),
                    b ? ckpt.get(p + "self_attn.q_proj.bias", h).toFloatArray() : null,
                    b ? ckpt.get(p + "self_attn.k_proj.bias", kv).toFloatArray() : null,
                    b ? ckpt.get(p + "self_attn.v_proj.bias", kv).toFloatArray() : null,
                    b ? ckpt.get(p + "self_attn.o_proj.bias", h).toFloatArray() : null);
        }
        this.grouped = java.util.Arrays.stream(layers).map(Grouped::of).toArray(Grouped[]::new);
        this.rope = new Rope(config.headDim(), config.ropeTheta());
        // Quantized weights already trade exactness for speed: their caches hold halves, as llama.cpp's do.
        this.cacheType = projectionType().isQuantized() ? DType.F16 : DType.F32;
    }

    /** Every tensor name this model reads (for the checkpoint's missing/unexpected check). */
    public static List<String> tensorNames(TextConfig c) {
        List<String> names = new ArrayList<>();
        names.add(PREFIX + "embed_tokens.weight");
        if (!c.tieWordEmbeddings()) names.add(HEAD);
        for (int i = 0; i < c.numLayers(); i++) {
            String p = PREFIX + "layers." + i + ".";
            for (String w : new String[]{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
                names.add(p + w + ".weight");
                if (c.attentionBias() && w.startsWith("self_attn")) names.add(p + w + ".bias");
            }
        }
        return names;
    }

    public TextConfig config() { return config; }

    /** The stored type of the decoder's projection weights as loaded (e.g. BF16, or Q8_0 after quantization). */
    public DType projectionType() {
        DType t = layers.length == 0 ? embedTokens.dtype() : layers[0].up.dtype();
        return t.plain(); // the format; the row interleaving is a memory layout
    }

    /** Bytes of weights one decode step reads: every layer's projections and the output head. */
    public long decodeBytesPerToken() {
        long b = lmHead.byteSize();
        for (Layer w : layers) {
            for (Tensor t : new Tensor[]{w.q, w.k, w.v, w.o, w.gate, w.up, w.down}) b += t.byteSize();
        }
        return b;
    }

    /** The output head's weight type (the embeddings' when tied and not quantized separately). */
    public DType headType() { return lmHead.dtype().plain(); } // the format, as projectionType

    /** Bytes of all weights this model holds (embeddings counted once when the head is tied). */
    public long weightBytes() {
        long b = decodeBytesPerToken();
        if (lmHead != embedTokens) b += embedTokens.byteSize();
        return b;
    }

    public Tensor embedTokens() { return embedTokens; }

    public Layer layer(int i) { return layers[i]; }

    public int numLayers() { return layers.length; }

    /** The output head (the embedding table itself when tied and not quantized separately). */
    public Tensor lmHead() { return lmHead; }

    Rope rope() { return rope; }

    /** Embeddings of ids into dst rows starting at dstRow (width hidden). */
    public void embed(int[] ids, int from, int count, float[] dst, int dstRow) {
        int h = config.hiddenSize();
        for (int i = 0; i < count; i++) {
            int id = ids[from + i];
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the embedding table (0.." + (config.vocabSize() - 1) + ")");
            }
            embedTokens.copyRowsTo(id, 1, dst, (dstRow + i) * h);
        }
    }

    /** A KV cache for up to maxLength positions, of this model's {@link #cacheType()}. */
    public KVCache newCache(int maxLength) {
        return new KVCache(config, maxLength, cacheType);
    }

    public KVCache newCache(int maxLength, DType type) {
        return new KVCache(config, maxLength, type);
    }

    private volatile DType cacheType = DType.F32;

    /**
     * The element type of the KV caches {@link #newCache(int)} makes: F32 (exact; the default for weights as
     * stored) or F16 (half the memory and half the bytes a decode step reads; the default for quantized weights).
     */
    public DType cacheType() { return cacheType; }

    public void setCacheType(DType type) {
        if (type != DType.F32 && type != DType.F16) {
            throw new IllegalArgumentException("the KV cache holds F32 or F16 values, not " + type);
        }
        this.cacheType = type;
    }

    /** Prompt rows per prefill chunk: bounds the activation memory; the weights are re-read once per chunk. */
    public static final int PREFILL_CHUNK = 512;

    /** Per-thread activation buffers, reused across calls (no allocation per token on the decode path). */
    private static final class Workspace {
        final int rows;
        final float[] x, normed, q, k, v, attn, proj, gate, up;
        /** The outputs of the grouped matmuls: {q, k, v} and {gate, up}. */
        final float[][] qkvOut, gateUpOut;

        Workspace(int rows, int h, int kvDim, int inter) {
            this.rows = rows;
            k = new float[rows * kvDim];
            v = new float[rows * kvDim];
            x = new float[rows * h];
            normed = new float[rows * h];
            q = new float[rows * h];
            attn = new float[rows * h];
            proj = new float[rows * h];
            gate = new float[rows * inter];
            up = new float[rows * inter];
            qkvOut = new float[][]{q, k, v};
            gateUpOut = new float[][]{gate, up};
        }
    }

    private final ThreadLocal<Workspace> workspace = new ThreadLocal<>();

    private Workspace workspace(int rows) {
        Workspace ws = workspace.get();
        if (ws == null || ws.rows < rows) {
            ws = new Workspace(rows, config.hiddenSize(), config.kvDim(), config.intermediateSize());
            workspace.set(ws);
        }
        return ws;
    }

    /**
     * Runs n new positions (rows of {@code inputEmbeds}, width hidden) after the {@code cache.length()}
     * positions already in the cache, appends their keys/values, and returns the final LayerNorm output
     * for the n rows ([n, hidden]). Long prompts run in chunks of {@link #PREFILL_CHUNK} rows through all
     * layers; keys and values are projected straight into the cache.
     */
    public float[] forward(float[] inputEmbeds, int n, KVCache cache) {
        int h = config.hiddenSize();
        int start = cache.length();
        cache.ensureCapacity(start + n);
        float[] result = new float[n * h];
        Workspace ws = workspace(Math.min(n, PREFILL_CHUNK));
        for (int c0 = 0; c0 < n; c0 += PREFILL_CHUNK) {
            int cn = Math.min(PREFILL_CHUNK, n - c0);
            System.arraycopy(inputEmbeds, c0 * h, ws.x, 0, cn * h);
            forwardChunk(ws, cn, cache, start + c0);
            cache.setLength(start + c0 + cn);
            Norms.layerNorm(ws.x, ws.x, cn, h, null, null, config.layerNormEps());
            System.arraycopy(ws.x, 0, result, c0 * h, cn * h);
        }
        return result;
    }

    /** All decoder layers for n rows in ws.x at positions pos.., their keys/values written into the cache. */
    private void forwardChunk(Workspace ws, int n, KVCache cache, int pos) {
        int h = config.hiddenSize(), kvDim = config.kvDim(), inter = config.intermediateSize();
        float eps = config.layerNormEps();
        float[] x = ws.x, normed = ws.normed, q = ws.q, keys = ws.k, values = ws.v, attn = ws.attn, proj = ws.proj,
                gate = ws.gate, up = ws.up;
        for (int l = 0; l < layers.length; l++) {
            Layer w = layers[l];
            Grouped g = grouped[l];
            Norms.layerNorm(x, normed, n, h, null, null, eps);
            MatMul.linear(normed, 0, n, g.qkv(), g.qkvBias(), ws.qkvOut);
            if (config.clipQkv() != null) {
                float c = config.clipQkv().floatValue();
                clamp(q, 0, n * h, c);
                clamp(keys, 0, n * kvDim, c);
                clamp(values, 0, n * kvDim, c);
            }
            rope.apply(q, 0, n, config.numHeads(), pos);
            rope.apply(keys, 0, n, config.numKvHeads(), pos);
            cache.put(l, pos, keys, 0, values, 0, n);
            causalAttention(q, n, pos, cache, l, attn);
            MatMul.linear(attn, 0, n, w.o, w.oBias, proj, 0);
            VectorMath.addInPlace(x, proj, n * h);
            Norms.layerNorm(x, normed, n, h, null, null, eps);
            MatMul.linear(normed, 0, n, g.gateUp(), null, ws.gateUpOut);
            Activations.swiglu(gate, up, n * inter);
            MatMul.linear(gate, 0, n, w.down, null, proj, 0);
            VectorMath.addInPlace(x, proj, n * h);
        }
    }

    /**
     * One decode step for several independent sequences at once (continuous batching): row i of
     * {@code inputEmbeds} is the next token of the sequence whose cache is {@code caches[i]}. The weight
     * matmuls run batched over all rows; attention runs per row against its own cache. Returns the final
     * LayerNorm output [n, hidden]. Results equal n separate single-row {@link #forward} calls up to float
     * summation order.
     */
    public float[] forwardBatch(float[] inputEmbeds, KVCache[] caches) {
        int n = caches.length;
        int h = config.hiddenSize(), kvDim = config.kvDim(), inter = config.intermediateSize();
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) {
            pos[i] = caches[i].length();
            caches[i].ensureCapacity(pos[i] + 1);
        }
        float eps = config.layerNormEps();
        float[] x = java.util.Arrays.copyOf(inputEmbeds, n * h);
        float[] normed = new float[n * h];
        float[] q = new float[n * h];
        float[] k = new float[n * kvDim];
        float[] v = new float[n * kvDim];
        float[] attn = new float[n * h];
        float[] proj = new float[n * h];
        float[] gate = new float[n * inter];
        float[] up = new float[n * inter];
        float[][] qkvOut = {q, k, v}, gateUpOut = {gate, up};
        float[] rowQ = new float[h], rowK = new float[kvDim], rowV = new float[kvDim];
        int heads = config.numHeads(), hd = config.headDim(), group = heads / config.numKvHeads();
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int l = 0; l < layers.length; l++) {
            Layer w = layers[l];
            Grouped g = grouped[l];
            Norms.layerNorm(x, normed, n, h, null, null, eps);
            MatMul.linear(normed, 0, n, g.qkv(), g.qkvBias(), qkvOut);
            if (config.clipQkv() != null) {
                float c = config.clipQkv().floatValue();
                clamp(q, c);
                clamp(k, c);
                clamp(v, c);
            }
            for (int i = 0; i < n; i++) {
                System.arraycopy(q, i * h, rowQ, 0, h);
                System.arraycopy(k, i * kvDim, rowK, 0, kvDim);
                System.arraycopy(v, i * kvDim, rowV, 0, kvDim);
                rope.apply(rowQ, 1, config.numHeads(), pos[i]);
                rope.apply(rowK, 1, config.numKvHeads(), pos[i]);
                System.arraycopy(rowQ, 0, q, i * h, h);
                caches[i].put(l, pos[i], rowK, 0, rowV, 0, 1);
            }
            final int layer = l;
            Parallel.forRange(n * heads, 1, (t0, t1) -> {
                for (int t = t0; t < t1; t++) {
                    int row = t / heads, head = t % heads;
                    attendHead(q, row * h + head * hd, caches[row], layer, head / group, pos[row] + 1, hd, scale,
                            attn, row * h + head * hd);
                }
            });
            MatMul.linear(attn, n, w.o, w.oBias, proj);
            VectorMath.addInPlace(x, proj, n * h);
            Norms.layerNorm(x, normed, n, h, null, null, eps);
            MatMul.linear(normed, 0, n, g.gateUp(), null, gateUpOut);
            Activations.swiglu(gate, up, n * inter);
            MatMul.linear(gate, n, w.down, null, proj);
            VectorMath.addInPlace(x, proj, n * h);
        }
        for (int i = 0; i < n; i++) caches[i].setLength(pos[i] + 1);
        Norms.layerNorm(x, x, n, h, null, null, eps);
        return x;
    }

    /** Attention of n query rows (positions start..start+n) against one layer of the cache. */
    private void causalAttention(float[] q, int n, int start, KVCache cache, int layer, float[] out) {
        int heads = config.numHeads(), hd = config.headDim(), h = config.hiddenSize();
        int group = heads / config.numKvHeads();
        float scale = (float) (1.0 / Math.sqrt(hd));
        if (n >= BLOCKED_ATTENTION_MIN_ROWS && hd % io.instella.core.kernels.Vectors.FLOAT.length() == 0) {
            if (cache.type() == DType.F32) {
                BlockedAttention.attention(q, 0, h, cache.keys(layer), cache.values(layer), 0, hd, cache.headStride(), start + n,
                        n, start, true, heads, config.numKvHeads(), hd, scale, out, 0, h);
            } else {
                BlockedAttention.attention(q, 0, h, cache.keys16(layer), cache.values16(layer), 0, hd, cache.headStride(),
                        start + n, n, start, true, heads, config.numKvHeads(), hd, scale, out, 0, h);
            }
            return;
        }
        // Work item t = head * n + row: rows of one head stay together for cache locality.
        Parallel.forRange(heads * n, Math.max(1, 64 / Math.max(1, start + n) ), (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int head = t / n, row = t % n;
                attendHead(q, row * h + head * hd, cache, layer, head / group, start + row + 1, hd, scale, out, row * h + head * hd);
            }
        });
    }

    /** One query row of one head against the first len positions of a key/value head of the cache. */
    private static void attendHead(float[] q, int qOff, KVCache cache, int layer, int kvHead, int len, int hd, float scale,
                                   float[] out, int outOff) {
        int kvOff = kvHead * cache.headStride();
        if (cache.type() == DType.F32) {
            Attention.attendHead(q, qOff, cache.keys(layer), cache.values(layer), kvOff, len, hd, scale, out, outOff);
        } else {
            Attention.attendHead(q, qOff, cache.keys16(layer), cache.values16(layer), kvOff, len, hd, scale, out, outOff);
        }
    }

    /** From this many new rows on, attention runs blocked over queries and keys (prefill). */
    static final int BLOCKED_ATTENTION_MIN_ROWS = 8;

    private static void clamp(float[] a, float c) {
        clamp(a, 0, a.length, c);
    }

    private static void clamp(float[] a, int off, int n, float c) {
        for (int i = off; i < off + n; i++) a[i] = Math.max(-c, Math.min(c, a[i]));
    }

    /** Logits over the checkpoint's full vocabulary for one row of final hidden states. */
    public float[] logits(float[] hidden, int row) {
        int h = config.hiddenSize();
        float[] out = new float[config.vocabSize()];
        MatMul.linear(hidden, row * h, 1, lmHead, null, out, 0);
        return out;
    }

    /** Logits for n rows ([n, vocab]). */
    public float[] logitsAll(float[] hidden, int n) {
        float[] out = new float[n * config.vocabSize()];
        MatMul.linear(hidden, 0, n, lmHead, null, out, 0);
        return out;
    }
}
