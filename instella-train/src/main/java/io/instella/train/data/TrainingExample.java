package io.instella.train.data;

import io.instella.model.image.PreprocessedImage;

import java.util.List;

/**
 * One record as the upstream {@code LazySupervisedDataset} turns it into model inputs (golden README steps 1-5).
 *
 * @param id           the record's "id" (or its position when it has none)
 * @param source       where it came from, for messages: "file:line" or "file#index"
 * @param inputIds     token ids with -200 at each image placeholder, no BOS/EOS
 * @param labels       same length; -100 where not trained
 * @param images       one preprocessed image per placeholder; for a text-only record in a multimodal run, the
 *                     dummy all-zero 336x336 image (upstream's {@code zeros(1,3,336,336)}); empty for a text-only run
 * @param textOnly     true for a record without an image (modality "text"): its dummy image's features are
 *                     computed but none of them is spliced in
 */
public record TrainingExample(String id, String source, int[] inputIds, int[] labels, List<PreprocessedImage> images,
                              boolean textOnly) {
    public TrainingExample {
        if (inputIds.length != labels.length) {
            throw new IllegalArgumentException(id + ": " + inputIds.length + " ids but " + labels.length + " labels");
        }
        images = List.copyOf(images);
    }

    /** Targets that are trained (label != -100). */
    public int trainedTargets() {
        int n = 0;
        for (int l : labels) if (l != -100) n++;
        return n;
    }
}
