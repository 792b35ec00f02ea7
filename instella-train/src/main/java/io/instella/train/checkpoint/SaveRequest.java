package io.instella.train.checkpoint;

import io.instella.core.tensor.DType;
import io.instella.train.optim.AdamW;
import io.instella.train.optim.LrSchedule;
import io.instella.train.params.ParameterSet;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Everything a training checkpoint holds, handed to {@link CheckpointManager#save}. Build with
 * {@link #builder(long, ParameterSet)}; the values are read when the checkpoint is written (the optimizer's
 * and the parameters' arrays are not copied, so do not step while saving).
 */
public final class SaveRequest {
    final long globalStep;
    final ParameterSet parameters;
    final DType saveDType;
    final AdamW optimizer;
    final LrSchedule schedule;
    final long seed;
    final Map<String, Object> rngState;
    final TrainerState trainerState;
    final Map<String, Object> trainingArgs;
    final ExtraFilesWriter extraFiles;

    private SaveRequest(Builder b) {
        this.globalStep = b.globalStep;
        this.parameters = b.parameters;
        this.saveDType = b.saveDType;
        this.optimizer = b.optimizer;
        this.schedule = b.schedule;
        this.seed = b.seed;
        this.rngState = b.rngState;
        this.trainerState = b.trainerState;
        this.trainingArgs = b.trainingArgs;
        this.extraFiles = b.extraFiles;
    }

    /** A checkpoint at optimizer step {@code globalStep} (the directory is {@code checkpoint-<globalStep>}). */
    public static Builder builder(long globalStep, ParameterSet parameters) {
        return new Builder(globalStep, parameters);
    }

    public long globalStep() { return globalStep; }

    public TrainerState trainerState() { return trainerState; }

    public static final class Builder {
        private final long globalStep;
        private final ParameterSet parameters;
        private DType saveDType;
        private AdamW optimizer;
        private LrSchedule schedule;
        private long seed;
        private Map<String, Object> rngState = new LinkedHashMap<>();
        private TrainerState trainerState;
        private Map<String, Object> trainingArgs = new LinkedHashMap<>();
        private ExtraFilesWriter extraFiles;

        private Builder(long globalStep, ParameterSet parameters) {
            if (globalStep < 0) throw new IllegalArgumentException("global step must be >= 0, got " + globalStep);
            this.globalStep = globalStep;
            this.parameters = Objects.requireNonNull(parameters, "parameters");
        }

        /** F32, BF16 or F16 for every trained tensor in model.safetensors; null (default) = each one's stored type. */
        public Builder saveDType(DType d) {
            if (d != null && d != DType.F32 && d != DType.BF16 && d != DType.F16) {
                throw new IllegalArgumentException("save dtype must be f32, bf16 or f16, not " + d);
            }
            this.saveDType = d;
            return this;
        }

        public Builder optimizer(AdamW o) { this.optimizer = o; return this; }

        /** The schedule; scheduler.json records it with last_epoch = globalStep (steps taken). */
        public Builder schedule(LrSchedule s) { this.schedule = s; return this; }

        /** The run's seed and an opaque JSON-able map (e.g. the data position {epoch, batch, ...}). */
        public Builder rngState(long seed, Map<String, Object> state) {
            this.seed = seed;
            this.rngState = state == null ? new LinkedHashMap<>() : state;
            return this;
        }

        /** The trainer state; its global_step is set to this checkpoint's step when written. */
        public Builder trainerState(TrainerState s) { this.trainerState = s; return this; }

        /** The run's options (an opaque JSON-able map), written as training_args.json. */
        public Builder trainingArgs(Map<String, Object> args) {
            this.trainingArgs = args == null ? new LinkedHashMap<>() : args;
            return this;
        }

        /** More files written into the temporary checkpoint directory before it is renamed into place. */
        public Builder extraFiles(ExtraFilesWriter w) { this.extraFiles = w; return this; }

        public SaveRequest build() {
            if (trainerState == null) trainerState = new TrainerState();
            return new SaveRequest(this);
        }
    }
}
