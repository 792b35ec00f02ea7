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
 *                     dummy all-zero 336x336 image (upstream's {@code zeros(1,3,336,336)}, one instance shared by
 *                     all such records: do not modify its pixels); empty for a text-only run. The image rows
 *                     replace the -200 placeholders in order; an example without placeholders splices no image
 *                     rows at all (its image, the dummy or a record's only image that has no {@code <image>}, is
 *                     still encoded, as upstream does, so its gradient is an exact zero)
 * @param textOnly     true for a record without an image (modality "text", its image is the dummy)
 * @param mergedLength rows the language model sees for this record before the collator's and the model's
 *                     truncation: ids - placeholders + the image rows of every image (0 for a text-only record)
 */
public record TrainingExample(String id, String source, int[] inputIds, int[] labels, List<PreprocessedImage> images,
                              boolean textOnly, int mergedLength) {
    public TrainingExample {
        if (inputIds.length != labels.length) {
            throw new IllegalArgumentException(id + ": " + inputIds.length + " ids but " + labels.length + " labels");
        }
        images = List.copyOf(images);
    }

    /** As the canonical constructor, with the merged length taken as the number of ids (no image rows known). */
    public TrainingExample(String id, String source, int[] inputIds, int[] labels, List<PreprocessedImage> images,
                           boolean textOnly) {
        this(id, source, inputIds, labels, images, textOnly, inputIds.length);
    }

    /** Targets that are trained (label != -100). */
    public int trainedTargets() {
        int n = 0;
        for (int l : labels) if (l != -100) n++;
        return n;
    }

    /** Upstream's {@code image_sizes}: (width, height) of each image, the dummy's (336, 336) included. */
    public int[][] imageSizes() {
        int[][] out = new int[images.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = new int[] {images.get(i).originalWidth(), images.get(i).originalHeight()};
        }
        return out;
    }

    /** Upstream's modality of each image: "text" for the dummy of a text-only record, else "image". */
    public List<String> modalities() {
        return images.stream().map(i -> textOnly ? "text" : "image").toList();
    }

    /** Number of -200 placeholders in the ids. */
    public int placeholders() {
        int n = 0;
        for (int id : inputIds) if (id == InstellaPreprocessor.IMAGE_TOKEN_INDEX) n++;
        return n;
    }
}
