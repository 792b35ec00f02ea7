package io.instella.model;

import io.instella.model.image.PreprocessedImage;

/**
 * One image on its way into the language model: the preprocessed tiles, the tower's selected features
 * [tiles, 576, Hv], the projected features [tiles, 576, H] and the merged rows [tokens, H] that replace
 * its {@code <image>} placeholder.
 */
public record EncodedImage(PreprocessedImage preprocessed, float[] visionFeatures, float[] projectedFeatures,
                           float[] mergedFeatures, int tokens, double millis) {}
