package io.instella.spark.train;

import io.instella.model.lora.LoraConfig;
import io.instella.train.model.TrainableModel;
import io.instella.train.model.TunableParts;
import io.instella.train.run.TrainingSettings;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What an executor needs to build the same trainable model as the driver: the start checkpoint (an absolute path,
 * readable on every node) and the model options of the run. The LoRA settings travel as their adapter_config.json.
 */
record TrainerSpec(String modelDir, String parts, String aspectRatio, String patchMergeType, int tokenizerModelMaxLength,
                   String loraConfigJson, long seed) implements Serializable {

    static TrainerSpec of(TrainingSettings settings) {
        TrainableModel.Options o = settings.modelOptions();
        return new TrainerSpec(settings.modelDir().toAbsolutePath().toString(), o.parts().toString(), o.aspectRatio(),
                o.patchMergeType(), o.tokenizerModelMaxLength(), o.lora() == null ? null : o.lora().toJson(), o.seed());
    }

    TrainableModel.Options options() {
        LoraConfig lora = null;
        if (loraConfigJson != null) {
            try {
                Path dir = Files.createTempDirectory("instella-lora-config");
                try {
                    Files.writeString(dir.resolve(LoraConfig.FILE_NAME), loraConfigJson);
                    lora = LoraConfig.read(dir);
                } finally {
                    Files.deleteIfExists(dir.resolve(LoraConfig.FILE_NAME));
                    Files.deleteIfExists(dir);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot pass the LoRA settings to the executor's model", e);
            }
        }
        return new TrainableModel.Options(TunableParts.parse(parts), aspectRatio, patchMergeType, tokenizerModelMaxLength, lora, seed);
    }
}
