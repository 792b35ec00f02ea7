package io.instella.train.data;

import java.util.List;

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
}
