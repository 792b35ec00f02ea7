package io.instella.train.run;

import io.instella.core.tensor.DType;
import io.instella.train.data.DataOptions;
import io.instella.train.model.TrainableModel;
import io.instella.train.optim.AdamW;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything a run needs, as {@code instella train} resolved it from its flags and the {@code --stage} preset.
 *
 * @param maxSteps      optimizer steps; 0 = {@code epochs} over the data
 * @param saveDtype     null = every trained tensor in its checkpoint type
 * @param resumeFrom    null, "latest", or a checkpoint directory
 * @param stopAfterSteps 0, or stop (with a checkpoint) once the run reaches this global step, the schedule still spanning
 *                      all steps (a time-boxed run to resume later)
 */
public record TrainingSettings(Path modelDir, Path outputDir, TrainableModel.Options modelOptions, DataOptions dataOptions,
                               double learningRate, String scheduler, double warmupRatio, long warmupSteps, double weightDecay,
                               double adamBeta1, double adamBeta2, double adamEpsilon, AdamW.MomentPrecision momentPrecision,
                               double maxGradNorm, long maxSteps, double epochs, int gradientAccumulation, long saveSteps,
                               int saveTotalLimit, DType saveDtype, String resumeFrom, Path evalData, long evalSteps,
                               long seed, boolean json, long stopAfterSteps) {

    public int batchSize() { return dataOptions.batchSize(); }

    /** The run's options as training_args.json records them (HF names where there is one). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_name_or_path", modelDir.toString());
        m.put("output_dir", outputDir.toString());
        m.put("data_path", dataOptions.data().toString());
        m.put("image_folder", dataOptions.imageFolder() == null ? null : dataOptions.imageFolder().toString());
        m.put("mm_tunable_parts", modelOptions.parts().toString());
        m.put("image_aspect_ratio", modelOptions.aspectRatio());
        m.put("mm_patch_merge_type", modelOptions.patchMergeType());
        m.put("model_max_length", dataOptions.modelMaxLength());
        m.put("learning_rate", learningRate);
        m.put("lr_scheduler_type", scheduler);
        m.put("warmup_ratio", warmupRatio);
        m.put("warmup_steps", warmupSteps);
        m.put("weight_decay", weightDecay);
        m.put("adam_beta1", adamBeta1);
        m.put("adam_beta2", adamBeta2);
        m.put("adam_epsilon", adamEpsilon);
        m.put("optim_state", momentPrecision.name().toLowerCase(java.util.Locale.ROOT));
        m.put("max_grad_norm", maxGradNorm);
        m.put("max_steps", maxSteps);
        m.put("num_train_epochs", epochs);
        m.put("per_device_train_batch_size", dataOptions.batchSize());
        m.put("gradient_accumulation_steps", gradientAccumulation);
        m.put("save_steps", saveSteps);
        m.put("save_total_limit", saveTotalLimit);
        m.put("save_dtype", saveDtype == null ? "stored" : saveDtype.name().toLowerCase(java.util.Locale.ROOT));
        m.put("seed", seed);
        m.put("dataloader_drop_last", dataOptions.dropLast());
        if (modelOptions.lora() != null) {
            m.put("lora_r", modelOptions.lora().r());
            m.put("lora_alpha", modelOptions.lora().loraAlpha());
            m.put("lora_dropout", modelOptions.lora().loraDropout());
        }
        return m;
    }
}
