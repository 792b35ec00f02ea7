package io.instella.spark.train;

import io.instella.model.image.PreprocessedImage;
import io.instella.train.data.Batch;
import io.instella.train.data.TrainingExample;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * A collated micro-batch as it travels from the driver's data loader to the executor that trains on it: token ids,
 * labels, mask and the preprocessed images, exactly what the single-machine trainer feeds its model.
 */
record ShippedBatch(int[][] inputIds, int[][] labels, int[][] attentionMask, List<Example> examples) implements Serializable {

    record Image(int originalWidth, int originalHeight, int tiles, float[] pixelValues, int gridWidth, int gridHeight)
            implements Serializable {}

    record Example(String id, String source, int[] inputIds, int[] labels, List<Image> images, boolean textOnly,
                   int mergedLength) implements Serializable {}

    static ShippedBatch of(Batch batch) {
        List<Example> examples = new ArrayList<>();
        for (TrainingExample e : batch.examples()) {
            List<Image> images = new ArrayList<>();
            for (PreprocessedImage i : e.images()) {
                images.add(new Image(i.originalWidth(), i.originalHeight(), i.tiles(), i.pixelValues(), i.gridWidth(), i.gridHeight()));
            }
            examples.add(new Example(e.id(), e.source(), e.inputIds(), e.labels(), images, e.textOnly(), e.mergedLength()));
        }
        return new ShippedBatch(batch.inputIds(), batch.labels(), batch.attentionMask(), examples);
    }

    Batch toBatch() {
        List<TrainingExample> out = new ArrayList<>();
        for (Example e : examples) {
            List<PreprocessedImage> images = new ArrayList<>();
            for (Image i : e.images()) {
                images.add(new PreprocessedImage(i.originalWidth(), i.originalHeight(), i.tiles(), i.pixelValues(), i.gridWidth(), i.gridHeight()));
            }
            out.add(new TrainingExample(e.id(), e.source(), e.inputIds(), e.labels(), images, e.textOnly(), e.mergedLength()));
        }
        return new Batch(inputIds, labels, attentionMask, out);
    }
}
