package io.instella.train.data;

import java.util.Arrays;
import java.util.List;

/**
 * Upstream's {@code DataCollatorForSupervisedDataset} (golden README step 6): ids and labels truncated to
 * model_max_length, right-padded to the longest of the batch (ids with the pad id, labels with -100), and
 * {@code attention_mask = ids != pad} (so a pad id inside a text is masked too, as upstream does).
 */
public final class Collator {
    private final int padTokenId;
    private final int modelMaxLength;

    /**
     * @param padTokenId     the model's pad id ({@code pad_token_id}: 1 for Instella's tokenizer)
     * @param modelMaxLength {@code --model-max-length}
     */
    public Collator(int padTokenId, int modelMaxLength) {
        if (modelMaxLength < 1) throw new DataException("--model-max-length must be positive, got " + modelMaxLength);
        this.padTokenId = padTokenId;
        this.modelMaxLength = modelMaxLength;
    }

    public Batch collate(List<TrainingExample> examples) {
        if (examples.isEmpty()) throw new IllegalArgumentException("cannot collate an empty batch");
        int width = 0;
        for (TrainingExample e : examples) width = Math.max(width, Math.min(e.inputIds().length, modelMaxLength));
        int n = examples.size();
        int[][] ids = new int[n][width];
        int[][] labels = new int[n][width];
        int[][] mask = new int[n][width];
        for (int b = 0; b < n; b++) {
            TrainingExample e = examples.get(b);
            int len = Math.min(e.inputIds().length, modelMaxLength);
            System.arraycopy(e.inputIds(), 0, ids[b], 0, len);
            System.arraycopy(e.labels(), 0, labels[b], 0, len);
            Arrays.fill(ids[b], len, width, padTokenId);
            Arrays.fill(labels[b], len, width, InstellaPreprocessor.IGNORE_INDEX);
            for (int i = 0; i < width; i++) mask[b][i] = ids[b][i] != padTokenId ? 1 : 0;
        }
        return new Batch(ids, labels, mask, List.copyOf(examples));
    }
}
