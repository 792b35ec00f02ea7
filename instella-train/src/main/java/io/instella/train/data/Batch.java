package io.instella.train.data;

import java.util.ArrayList;
import java.util.List;

import io.instella.model.image.PreprocessedImage;

/**
 * A collated micro-batch (upstream {@code DataCollatorForSupervisedDataset}, golden README step 6): ids truncated
 * to model_max_length and right-padded with the pad id, labels padded with -100, attention mask = ids != pad.
 *
 * @param inputIds      [batch][maxLen]
 * @param labels        [batch][maxLen]
 * @param attentionMask [batch][maxLen], 1 or 0
 * @param examples      the records, in batch order (their images and sizes)
 */
public record Batch(int[][] inputIds, int[][] labels, int[][] attentionMask, List<TrainingExample> examples) {
    public int size() { return inputIds.length; }

    /** Upstream's {@code batch["images"]}: every example's images in batch order (dummies included). */
    public List<PreprocessedImage> images() {
        List<PreprocessedImage> out = new ArrayList<>();
        for (TrainingExample e : examples) out.addAll(e.images());
        return out;
    }

    /** Upstream's {@code batch["image_sizes"]}: (width, height) of each of {@link #images()}. */
    public int[][] imageSizes() {
        List<int[]> out = new ArrayList<>();
        for (TrainingExample e : examples) out.addAll(List.of(e.imageSizes()));
        return out.toArray(new int[0][]);
    }

    /** Upstream's {@code batch["modalities"]}: "image" or "text" for each of {@link #images()}. */
    public List<String> modalities() {
        List<String> out = new ArrayList<>();
        for (TrainingExample e : examples) out.addAll(e.modalities());
        return out;
    }

    /** Trained targets (labels != -100) over the whole batch. */
    public int trainedTargets() {
        int n = 0;
        for (int[] row : labels) for (int l : row) if (l != InstellaPreprocessor.IGNORE_INDEX) n++;
        return n;
    }
}
