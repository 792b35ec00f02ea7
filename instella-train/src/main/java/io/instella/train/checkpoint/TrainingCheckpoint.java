package io.instella.train.checkpoint;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.train.optim.AdamW;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@code checkpoint-N} directory read back (see {@link CheckpointManager} for the layout). The safetensors
 * files stay memory-mapped until {@link #close()}; {@link #restoreParameters} and {@link #restoreOptimizer}
 * copy tensor by tensor into the run's own arrays, so a resumed run continues bit-identically (parameters come
 * from the float32 {@code master.*} copies where model.safetensors holds rounded values).
 */
public final class TrainingCheckpoint implements AutoCloseable {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path directory;
    private final SafeTensorsFile model;
    private final SafeTensorsFile optimizer;
    private final Map<String, Long> optimizerSteps;
    private final SchedulerState scheduler;
    private final long seed;
    private final Map<String, Object> rngState;
    private final TrainerState trainerState;
    private final Map<String, Object> trainingArgs;

    private TrainingCheckpoint(Path directory, SafeTensorsFile model, SafeTensorsFile optimizer, Map<String, Long> optimizerSteps,
                               SchedulerState scheduler, long seed, Map<String, Object> rngState, TrainerState trainerState,
                               Map<String, Object> trainingArgs) {
        this.directory = directory;
        this.model = model;
        this.optimizer = optimizer;
        this.optimizerSteps = optimizerSteps;
        this.scheduler = scheduler;
        this.seed = seed;
        this.rngState = rngState;
        this.trainerState = trainerState;
        this.trainingArgs = trainingArgs;
    }

    /** Reads a checkpoint directory ({@code checkpoint-N}); see {@link CheckpointManager#resolveResume} to find one. */
    public static TrainingCheckpoint read(Path dir) {
        Path d = dir.toAbsolutePath().normalize();
        if (!Files.isDirectory(d)) throw new CheckpointException(d + ": no such checkpoint directory");
        for (String f : List.of(CheckpointManager.TRAINER_STATE_FILE, CheckpointManager.MODEL_FILE)) {
            if (!Files.isRegularFile(d.resolve(f))) {
                throw new CheckpointException(d + ": not a complete training checkpoint (no " + f + ")");
            }
        }
        TrainerState state = readJson(d.resolve(CheckpointManager.TRAINER_STATE_FILE), TrainerState.class);
        SchedulerState scheduler = null;
        Path sched = d.resolve(CheckpointManager.SCHEDULER_FILE);
        if (Files.isRegularFile(sched)) scheduler = SchedulerState.fromJson(readJson(sched, JsonNode.class), sched);
        long seed = 0;
        Map<String, Object> rng = new LinkedHashMap<>();
        Path rngFile = d.resolve(CheckpointManager.RNG_FILE);
        if (Files.isRegularFile(rngFile)) {
            Map<String, Object> m = readJson(rngFile, new TypeReference<>() {});
            if (m.get("seed") instanceof Number n) seed = n.longValue();
            if (m.get("state") instanceof Map<?, ?> s) {
                @SuppressWarnings("unchecked") Map<String, Object> cast = (Map<String, Object>) s;
                rng = cast;
            }
        }
        Map<String, Object> args = new LinkedHashMap<>();
        Path argsFile = d.resolve(CheckpointManager.TRAINING_ARGS_FILE);
        if (Files.isRegularFile(argsFile)) args = readJson(argsFile, new TypeReference<>() {});

        SafeTensorsFile model = null, opt = null;
        try {
            model = openTensors(d.resolve(CheckpointManager.MODEL_FILE));
            Map<String, Long> steps = new LinkedHashMap<>();
            Path optFile = d.resolve(CheckpointManager.OPTIMIZER_FILE);
            if (Files.isRegularFile(optFile)) {
                opt = openTensors(optFile);
                String s = opt.metadata().get("instella.steps");
                if (s != null) {
                    try {
                        steps = CheckpointFiles.JSON.readValue(s, new TypeReference<LinkedHashMap<String, Long>>() {});
                    } catch (IOException e) {
                        throw new CheckpointException(optFile + ": unreadable step counts in its metadata (" + e.getMessage() + ")", e);
                    }
                }
            }
            return new TrainingCheckpoint(d, model, opt, steps, scheduler, seed, rng, state, args);
        } catch (RuntimeException e) {
            if (model != null) model.close();
            if (opt != null) opt.close();
            throw e;
        }
    }

    private static SafeTensorsFile openTensors(Path file) {
        try {
            return SafeTensorsFile.open(file);
        } catch (SafeTensorsException e) {
            throw new CheckpointException(e.getMessage() + " (the checkpoint is damaged: resume from an earlier one)", e);
        }
    }

    private static <T> T readJson(Path file, Class<T> type) {
        try {
            return CheckpointFiles.JSON.readValue(file.toFile(), type);
        } catch (IOException e) {
            throw new CheckpointException(file + ": not valid JSON (" + firstLine(e) + ")", e);
        }
    }

    private static <T> T readJson(Path file, TypeReference<T> type) {
        try {
            return CheckpointFiles.JSON.readValue(file.toFile(), type);
        } catch (IOException e) {
            throw new CheckpointException(file + ": not valid JSON (" + firstLine(e) + ")", e);
        }
    }

    private static String firstLine(Exception e) {
        return String.valueOf(e.getMessage()).lines().findFirst().orElse("");
    }

    public Path directory() { return directory; }

    /** Optimizer steps done when the checkpoint was written (trainer_state.json's global_step). */
    public long globalStep() { return trainerState.globalStep; }

    public TrainerState trainerState() { return trainerState; }

    /** The schedule and its steps taken, or null when the checkpoint has no scheduler.json. */
    public SchedulerState scheduler() { return scheduler; }

    public long seed() { return seed; }

    /** The opaque map the run saved with its seed (e.g. the data position). */
    public Map<String, Object> rngState() { return rngState; }

    public Map<String, Object> trainingArgs() { return trainingArgs; }

    /** The trained parameters' names, in file order. */
    public Set<String> parameterNames() {
        return Collections.unmodifiableSet(new LinkedHashSet<>(model.entries().keySet()));
    }

    public long[] parameterShape(String name) {
        return tensor(model, name).shape();
    }

    /** The type the parameter is stored as in model.safetensors. */
    public DType savedType(String name) {
        return tensor(model, name).dtype();
    }

    /** A parameter's float32 value (the master copy where model.safetensors rounded it). */
    public float[] parameterValues(String name) {
        Tensor t = source(name);
        float[] out = new float[Math.toIntExact(t.numel())];
        copyFloats(t, out);
        return out;
    }

    /** Every parameter's float32 value, by name. */
    public Map<String, float[]> parameterValues() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (String n : parameterNames()) out.put(n, parameterValues(n));
        return out;
    }

    /**
     * Copies the saved values into the run's parameters. The two must list the same names with the same shapes:
     * a difference means the run trains other parts than the one that wrote the checkpoint.
     */
    public void restoreParameters(ParameterSet parameters) {
        List<String> missing = new ArrayList<>(), extra = new ArrayList<>();
        for (Parameter p : parameters) if (!model.contains(p.name())) missing.add(p.name());
        for (String n : model.entries().keySet()) if (!parameters.contains(n)) extra.add(n);
        if (!missing.isEmpty() || !extra.isEmpty()) {
            StringBuilder sb = new StringBuilder(directory + ": the checkpoint's trained parameters differ from this run's.");
            if (!missing.isEmpty()) sb.append("\n  trained now, not in the checkpoint (").append(missing.size()).append("): ").append(summary(missing));
            if (!extra.isEmpty()) sb.append("\n  in the checkpoint, not trained now (").append(extra.size()).append("): ").append(summary(extra));
            sb.append("\n  Resume with the same --mm-tunable-parts / LoRA options as the run that saved it.");
            throw new CheckpointException(sb.toString());
        }
        for (Parameter p : parameters) {
            Tensor t = source(p.name());
            if (!Arrays.equals(t.shape(), p.shape())) {
                throw new CheckpointException(directory + ": parameter " + p.name() + " has shape " + Arrays.toString(t.shape())
                        + " in the checkpoint, " + Arrays.toString(p.shape()) + " in this model");
            }
            copyFloats(t, p.value());
        }
    }

    /** Whether optimizer moments were saved (false for a checkpoint written before the first step or without one). */
    public boolean hasOptimizerState() {
        return !optimizerSteps.isEmpty();
    }

    /** Per-parameter AdamW step counts. */
    public Map<String, Long> optimizerSteps() { return Collections.unmodifiableMap(optimizerSteps); }

    /** The AdamW hyper-parameters saved (JSON: beta1, beta2, eps, weight_decay, moment_precision), or null. */
    public String optimizerHyperparameters() {
        return optimizer == null ? null : optimizer.metadata().get("instella.hyperparameters");
    }

    /** Replaces the optimizer's state by the saved one (moments converted if its precision differs). */
    public void restoreOptimizer(AdamW adamw) {
        adamw.reset();
        for (Map.Entry<String, Long> e : optimizerSteps.entrySet()) {
            String n = e.getKey();
            try {
                adamw.restore(n, e.getValue(), tensor(optimizer, "exp_avg." + n), tensor(optimizer, "exp_avg_sq." + n));
            } catch (IllegalArgumentException ex) {
                throw new CheckpointException(directory.resolve(CheckpointManager.OPTIMIZER_FILE) + ": " + ex.getMessage(), ex);
            }
        }
    }

    private Tensor source(String name) {
        if (!model.contains(name)) throw new CheckpointException(directory + ": no trained parameter named " + name);
        if (optimizer != null && optimizer.contains("master." + name)) return optimizer.tensor("master." + name);
        return model.tensor(name);
    }

    private Tensor tensor(SafeTensorsFile f, String name) {
        if (f == null || !f.contains(name)) {
            throw new CheckpointException(directory + ": tensor " + name + " is missing (the checkpoint is damaged: resume from an earlier one)");
        }
        return f.tensor(name);
    }

    private static void copyFloats(Tensor t, float[] dst) {
        if (t.numel() != dst.length) throw new CheckpointException(t.name() + ": " + t.numel() + " values, expected " + dst.length);
        if (t.dtype() == DType.F32) {
            MemorySegment.copy(t.data(), F32_LE, 0, dst, 0, dst.length);
        } else if (t.dtype().isFloatingPoint()) {
            for (int i = 0; i < dst.length; i++) dst[i] = t.getFloat(i);
        } else {
            throw new CheckpointException(t.name() + " is " + t.dtype() + ", not a float tensor");
        }
    }

    private static String summary(List<String> names) {
        return names.size() <= 8 ? String.join(", ", names) : String.join(", ", names.subList(0, 8)) + ", …";
    }

    @Override
    public void close() {
        model.close();
        if (optimizer != null) optimizer.close();
    }
}
