package io.instella.train.checkpoint;

import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.train.optim.AdamW;
import io.instella.train.params.Parameter;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The {@code checkpoint-N/} directories of an output directory, in the Hugging Face Trainer's layout:
 * <pre>
 *   checkpoint-N/model.safetensors      trained parameters under their original names, in the save dtype
 *   checkpoint-N/optimizer.safetensors  exp_avg.NAME, exp_avg_sq.NAME (AdamW moments, F32 or BF16), master.NAME (F32
 *                                       master weights, only where model.safetensors holds them rounded), metadata:
 *                                       instella.optimizer, instella.hyperparameters, instella.steps (JSON strings)
 *   checkpoint-N/scheduler.json         the LR schedule and last_epoch (= steps taken)
 *   checkpoint-N/rng_state.json         {"seed": S, "state": {...the run's data position...}}
 *   checkpoint-N/trainer_state.json     HF TrainerState (global_step, epoch, log_history, ..., skipped_records)
 *   checkpoint-N/training_args.json     the run's options
 *   checkpoint-N/...                    whatever the request's {@link ExtraFilesWriter} adds (PEFT adapter files)
 *   loss_curve.png                      (in the output directory) loss and learning rate over the steps so far
 * </pre>
 * A save is atomic: everything is written and fsynced in {@code .tmp-checkpoint-N-RANDOM/} inside the output
 * directory, then renamed to {@code checkpoint-N} (an existing {@code checkpoint-N} is first renamed to
 * {@code .old-checkpoint-N-RANDOM} and deleted after the rename). A process killed during a save leaves every
 * earlier checkpoint intact and no {@code checkpoint-*} directory that is half written;
 * {@link #cleanUpInterruptedSaves()} (call it at start) removes the leftovers.
 */
public final class CheckpointManager {
    public static final String PREFIX = "checkpoint-";
    public static final String MODEL_FILE = "model.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String SCHEDULER_FILE = "scheduler.json";
    public static final String RNG_FILE = "rng_state.json";
    public static final String TRAINER_STATE_FILE = "trainer_state.json";
    public static final String TRAINING_ARGS_FILE = "training_args.json";
    public static final String LOSS_CURVE_FILE = "loss_curve.png";
    static final String TMP_PREFIX = ".tmp-";
    static final String OLD_PREFIX = ".old-";
    private static final Pattern CHECKPOINT = Pattern.compile("checkpoint-(\\d+)");
    private static final Pattern OLD = Pattern.compile("\\.old-(checkpoint-\\d+)-[0-9a-f]+");

    /** Called at named points of a save; tests make it throw to simulate a failure there. */
    interface FaultPoint {
        void reached(String stage) throws IOException;
    }

    private final Path outputDir;
    private final int saveTotalLimit;
    FaultPoint faults = stage -> {};

    /**
     * @param saveTotalLimit keep at most this many {@code checkpoint-*} directories (the newest by step);
     *                       0 or less keeps all ({@code --save-total-limit})
     */
    public CheckpointManager(Path outputDir, int saveTotalLimit) {
        this.outputDir = outputDir.toAbsolutePath().normalize();
        this.saveTotalLimit = saveTotalLimit;
    }

    public Path outputDir() { return outputDir; }

    /** The step of a {@code checkpoint-N} directory, or -1 when the name is not of that form. */
    public static long stepOf(Path dir) {
        Matcher m = CHECKPOINT.matcher(dir.getFileName().toString());
        if (!m.matches()) return -1;
        try {
            return Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The complete checkpoints (a {@code checkpoint-N} directory with a trainer_state.json), oldest step first. */
    public List<Path> checkpoints() {
        return checkpoints(outputDir);
    }

    static List<Path> checkpoints(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> stepOf(p) >= 0 && Files.isDirectory(p) && Files.isRegularFile(p.resolve(TRAINER_STATE_FILE)))
                    .sorted(Comparator.comparingLong(CheckpointManager::stepOf)).toList();
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot list the checkpoints (" + e.getMessage() + ")", e);
        }
    }

    /** The checkpoint with the highest step, if any. */
    public Optional<Path> latest() {
        List<Path> all = checkpoints();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
    }

    /**
     * What {@code --resume-from-checkpoint VALUE} names: "latest" or "true" = the newest checkpoint in
     * {@code outputDir}; otherwise a path, either a checkpoint directory or an output directory whose newest
     * checkpoint is taken.
     */
    public static Path resolveResume(Path outputDir, String value) {
        if (value == null || value.isBlank()) throw new CheckpointException("--resume-from-checkpoint needs a directory, or 'latest'");
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("latest") || v.equals("true")) {
            List<Path> all = checkpoints(outputDir.toAbsolutePath().normalize());
            if (all.isEmpty()) {
                throw new CheckpointException("no checkpoint to resume from in " + outputDir
                        + " (no checkpoint-N directory with a trainer_state.json); start without --resume-from-checkpoint");
            }
            return all.getLast();
        }
        Path p = Path.of(value).toAbsolutePath().normalize();
        if (Files.isRegularFile(p.resolve(TRAINER_STATE_FILE))) return p;
        if (Files.isDirectory(p)) {
            List<Path> all = checkpoints(p);
            if (!all.isEmpty()) return all.getLast();
            throw new CheckpointException(p + " is neither a checkpoint (no " + TRAINER_STATE_FILE + ") nor a directory holding checkpoint-N directories");
        }
        throw new CheckpointException(p + ": no such checkpoint directory");
    }

    /**
     * Removes what an interrupted save left: {@code .tmp-*} directories, {@code .*.partial} files, and
     * {@code .old-checkpoint-N-*} directories (moved back to {@code checkpoint-N} if the replacing save died before its rename). Call before training.
     *
     * @return how many leftovers were removed or restored
     */
    public int cleanUpInterruptedSaves() throws IOException {
        if (!Files.isDirectory(outputDir)) return 0;
        List<Path> entries;
        try (Stream<Path> s = Files.list(outputDir)) {
            entries = s.toList();
        }
        int n = 0;
        for (Path p : entries) {
            String name = p.getFileName().toString();
            if (name.startsWith(TMP_PREFIX) && Files.isDirectory(p)) {
                CheckpointFiles.deleteRecursively(p);
                n++;
            } else if (name.startsWith(".") && name.endsWith(".partial") && Files.isRegularFile(p)) {
                Files.deleteIfExists(p); // a loss_curve.png write that was cut short
                n++;
            } else if (name.startsWith(OLD_PREFIX) && Files.isDirectory(p)) {
                Matcher m = OLD.matcher(name);
                Path original = m.matches() ? outputDir.resolve(m.group(1)) : null;
                if (original != null && !Files.exists(original)) {
                    Files.move(p, original, StandardCopyOption.ATOMIC_MOVE);
                } else {
                    CheckpointFiles.deleteRecursively(p);
                }
                n++;
            }
        }
        if (n > 0) CheckpointFiles.fsync(outputDir);
        return n;
    }

    /**
     * Writes {@code checkpoint-<step>} atomically, then deletes the oldest checkpoints beyond the total limit and
     * redraws {@code loss_curve.png} from the trainer state's log history.
     *
     * @return the checkpoint directory
     */
    public Path save(SaveRequest r) throws IOException {
        Files.createDirectories(outputDir);
        String name = PREFIX + r.globalStep;
        Path tmp = outputDir.resolve(TMP_PREFIX + name + "-" + CheckpointFiles.randomSuffix());
        Files.createDirectory(tmp);
        Path target = outputDir.resolve(name);
        try {
            writeContents(r, tmp);
            faults.reached("fsync");
            CheckpointFiles.fsyncTree(tmp);
            faults.reached("rename");
            Path aside = null;
            if (Files.exists(target)) {
                aside = outputDir.resolve(OLD_PREFIX + name + "-" + CheckpointFiles.randomSuffix());
                Files.move(target, aside, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            CheckpointFiles.fsync(outputDir);
            if (aside != null) CheckpointFiles.deleteRecursively(aside);
        } catch (IOException | RuntimeException e) {
            try {
                CheckpointFiles.deleteRecursively(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        enforceTotalLimit();
        LossCurve.writeQuietly(r.trainerState.logHistory, outputDir.resolve(LOSS_CURVE_FILE));
        return target;
    }

    /** Deletes the oldest complete checkpoints until at most the total limit remain. */
    public List<Path> enforceTotalLimit() throws IOException {
        List<Path> deleted = new ArrayList<>();
        if (saveTotalLimit <= 0) return deleted;
        List<Path> all = checkpoints();
        for (int i = 0; i < all.size() - saveTotalLimit; i++) {
            Path old = all.get(i);
            // Renamed first, so a kill while deleting never leaves a half-deleted checkpoint-N that looks valid.
            Path doomed = outputDir.resolve(TMP_PREFIX + "delete-" + old.getFileName() + "-" + CheckpointFiles.randomSuffix());
            Files.move(old, doomed, StandardCopyOption.ATOMIC_MOVE);
            CheckpointFiles.deleteRecursively(doomed);
            deleted.add(old);
        }
        return deleted;
    }

    private void writeContents(SaveRequest r, Path dir) throws IOException {
        Map<String, Boolean> lossy = new LinkedHashMap<>();
        SafeTensorsWriter model = new SafeTensorsWriter().metadata("format", "pt");
        for (Parameter p : r.parameters) {
            DType t = saveType(r.saveDType, p);
            lossy.put(p.name(), t != DType.F32);
            model.addDeferred(p.name(), t, p.shape(), () -> encode(p.value(), t));
        }
        model.write(dir.resolve(MODEL_FILE));
        faults.reached("model");

        writeOptimizer(r, lossy, dir.resolve(OPTIMIZER_FILE));
        faults.reached("optimizer");

        if (r.schedule != null) {
            CheckpointFiles.writeJson(dir.resolve(SCHEDULER_FILE), SchedulerState.toJson(r.schedule, r.globalStep));
        }
        Map<String, Object> rng = new LinkedHashMap<>();
        rng.put("seed", r.seed);
        rng.put("state", r.rngState);
        CheckpointFiles.writeJson(dir.resolve(RNG_FILE), rng);
        CheckpointFiles.writeJson(dir.resolve(TRAINING_ARGS_FILE), r.trainingArgs);
        r.trainerState.globalStep = r.globalStep;
        CheckpointFiles.writeJson(dir.resolve(TRAINER_STATE_FILE), r.trainerState);
        faults.reached("state");

        if (r.extraFiles != null) r.extraFiles.writeInto(dir);
        faults.reached("extra");
    }

    private static void writeOptimizer(SaveRequest r, Map<String, Boolean> lossy, Path file) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        Map<String, Long> steps = new LinkedHashMap<>();
        if (r.optimizer != null) {
            AdamW.Options o = r.optimizer.options();
            Map<String, Object> hp = new LinkedHashMap<>();
            hp.put("beta1", o.beta1());
            hp.put("beta2", o.beta2());
            hp.put("eps", o.eps());
            hp.put("weight_decay", o.weightDecay());
            hp.put("moment_precision", o.momentPrecision().name().toLowerCase(Locale.ROOT));
            w.metadata("instella.optimizer", "adamw_torch");
            w.metadata("instella.hyperparameters", CheckpointFiles.JSON.writeValueAsString(hp));
            for (Map.Entry<String, AdamW.State> e : r.optimizer.states().entrySet()) {
                AdamW.State s = e.getValue();
                w.add(s.expAvgTensor("exp_avg." + e.getKey()));
                w.add(s.expAvgSqTensor("exp_avg_sq." + e.getKey()));
                steps.put(e.getKey(), s.step());
            }
        }
        w.metadata("instella.steps", CheckpointFiles.JSON.writeValueAsString(steps));
        for (Parameter p : r.parameters) {
            // model.safetensors rounds these: keep the float32 masters so that a resume continues bit-identically
            if (lossy.get(p.name())) w.addDeferred("master." + p.name(), DType.F32, p.shape(), () -> encode(p.value(), DType.F32));
        }
        w.write(file);
    }

    /** The type a trained parameter is saved as: the requested one, else its stored type (F32 unless BF16/F16). */
    static DType saveType(DType requested, Parameter p) {
        if (requested != null) return requested;
        DType stored = p.storedType();
        return stored == DType.BF16 || stored == DType.F16 ? stored : DType.F32;
    }

    static MemorySegment encode(float[] values, DType t) {
        return switch (t) {
            // a heap view of the array is little-endian on every platform this runs on: no 4-bytes-per-value copy
            case F32 -> java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN
                    ? MemorySegment.ofArray(values) : SafeTensorsWriter.toF32(values);
            case BF16 -> SafeTensorsWriter.toBf16(values);
            case F16 -> SafeTensorsWriter.toF16(values);
            default -> throw new IllegalArgumentException("cannot save parameters as " + t);
        };
    }
}
