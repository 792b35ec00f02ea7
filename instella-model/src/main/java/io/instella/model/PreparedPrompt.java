package io.instella.model;

import java.util.List;

/**
 * A tokenised prompt: ids with {@code -200} where each image goes, the encoded images in order, and
 * the ids of the text tokens alone (what the repetition penalty looks at).
 */
public record PreparedPrompt(String text, int[] inputIds, List<EncodedImage> images, int sequenceLength) {

    public static final int IMAGE_TOKEN_INDEX = -200;

    public int numImageTokens() {
        return images.stream().mapToInt(EncodedImage::tokens).sum();
    }

    public int[] textIds() {
        return java.util.Arrays.stream(inputIds).filter(i -> i != IMAGE_TOKEN_INDEX).toArray();
    }

    public double visionMillis() {
        return images.stream().mapToDouble(EncodedImage::millis).sum();
    }
}
