package io.instella.cli;

import io.instella.model.config.InstellaConfig;
import io.instella.model.config.TextConfig;
import io.instella.model.config.VisionConfig;

/**
 * Parameters a checkpoint of this config holds, from the shapes alone (for {@code instella info} before the
 * weights are downloaded): 1,486,569,472 for Instella-VL-1B (spec §1.3). Counts what the checkpoint stores: the
 * whole CLIP tower (post_layernorm and the last layer included, though unused), the projector, image_newline and
 * the language model (lm_head only when untied).
 */
final class ParameterCount {
    private ParameterCount() {}

    static long fromConfig(InstellaConfig c) {
        long n = language(c.text());
        if (c.hasVision()) {
            var mm = c.multimodal();
            n += vision(mm.vision());
            n += projector(mm.projectorType(), mm.mmHiddenSize(), c.text().hiddenSize());
            if (mm.patchMergeType().contains("unpad")) n += c.text().hiddenSize();
        }
        return n;
    }

    static long language(TextConfig t) {
        long h = t.hiddenSize(), kv = t.kvDim(), inter = t.intermediateSize();
        long perLayer = 2 * h * h + 2 * h * kv + 3 * h * inter;
        if (t.attentionBias()) perLayer += 2 * h + 2 * kv;
        long n = (long) t.vocabSize() * h + t.numLayers() * perLayer;
        if (!t.tieWordEmbeddings()) n += (long) t.vocabSize() * h;
        return n;
    }

    static long vision(VisionConfig v) {
        long d = v.hiddenSize(), i = v.intermediateSize();
        long embeddings = d /* class */ + d * v.numChannels() * v.patchSize() * v.patchSize() + (v.numPatches() + 1L) * d;
        long norms = 4 * d; // pre_layrnorm, post_layernorm
        long perLayer = 4 * (d * d + d) + 4 * d + (i * d + i) + (d * i + d);
        return embeddings + norms + v.numLayers() * perLayer;
    }

    static long projector(String type, int in, int out) {
        if (type.equals("linear")) return (long) in * out + out;
        int depth = Integer.parseInt(type.substring(3, type.indexOf('x')));
        return (long) in * out + out + (depth - 1) * ((long) out * out + out);
    }
}
