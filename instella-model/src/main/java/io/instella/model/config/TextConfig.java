package io.instella.model.config;

/** The OLMo language model's shape (HF {@code OlmoConfig} fields). */
public record TextConfig(
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int vocabSize,
        int maxPositionEmbeddings,
        double ropeTheta,
        boolean tieWordEmbeddings,
        Double clipQkv,
        boolean attentionBias,
        float layerNormEps) {

    public int headDim() { return hiddenSize / numHeads; }

    public int kvDim() { return numKvHeads * headDim(); }
}
