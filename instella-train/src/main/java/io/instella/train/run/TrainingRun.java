package io.instella.train.run;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.train.checkpoint.CheckpointManager;
import io.instella.train.checkpoint.FinalModelWriter;
import io.instella.train.checkpoint.SaveRequest;
import io.instella.train.checkpoint.TrainerState;
import io.instella.train.checkpoint.TrainingCheckpoint;
import io.instella.train.data.DataLoader;
import io.instella.train.data.DataOptions;
import io.instella.train.data.DataReport;
import io.instella.train.data.LoaderPosition;
import io.instella.train.data.TrainingData;
import io.instella.train.model.TrainableModel;
import io.instella.train.optim.AdamW;
import io.instella.train.optim.GradientClipping;
import io.instella.train.optim.LrSchedule;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One training run as the HF Trainer orders it: per optimizer step, {@code gradient_accumulation_steps} micro-batches
 * (forward + backward each; the gradients of their mean), global-norm clipping, AdamW at the schedule's lr for this
 * step, the schedule's next step; logging, checkpoints every {@code save_steps}, evaluation every {@code eval_steps},
 * the final model at the end. A resumed run continues bit-identically: the data position, optimizer moments,
 * schedule step and dropout seeds all come from the checkpoint or the step number.
 */
public final class TrainingRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainingSettings s;
    private final PrintWriter out;
    private final PrintWriter err;
    private final AtomicBoolean stopRequested = new AtomicBoolean();
    private final CountDownLatch finished = new CountDownLatch(1);
    private final StepGradients gradients;
    private long savedStep = -1;  // the step of the checkpoint written last by this run

    public TrainingRun(TrainingSettings settings, PrintWriter out, PrintWriter err) {
        this(settings, out, err, StepGradients.local(settings));
    }

    /** A run whose step gradients come from {@code gradients} (e.g. data-parallel workers); the rest is as above. */
    public TrainingRun(TrainingSettings settings, PrintWriter out, PrintWriter err, StepGradients gradients) {
        this.s = settings;
        this.out = out;
        this.err = err;
        this.gradients = gradients;
    }

    /** Asks the run to stop after the current optimizer step (it then saves a checkpoint); e.g. from a Ctrl-C hook. */
    public void requestStop() { stopRequested.set(true); }

    /** Waits until the run has stopped (and saved), up to the given time. */
    public boolean awaitFinished(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    /** What the run did. */
    public record Outcome(long steps, boolean stoppedEarly, double lastLoss, Path outputDir) {}

    public Outcome run() throws IOException {
        try {
            return runInner();
        } finally {
            finished.countDown();
        }
    }

    private Outcome runInner() throws IOException {
        Files.createDirectories(s.outputDir());
        CheckpointManager checkpoints = new CheckpointManager(s.outputDir(), s.saveTotalLimit());
        int cleaned = checkpoints.cleanUpInterruptedSaves();
        if (cleaned > 0) log("removed %d leftover(s) of an interrupted save in %s", cleaned, s.outputDir());
        Path resumeFrom = s.resumeFrom() == null ? null : CheckpointManager.resolveResume(s.outputDir(), s.resumeFrom());
        TrainingCheckpoint resume = resumeFrom == null ? null : TrainingCheckpoint.read(resumeFrom);
        try (TrainableModel model = TrainableModel.open(s.modelDir(), s.modelOptions())) {
            DataReport report = resume != null && resume.trainerState().skippedRecords instanceof Map<?, ?> m
                    ? DataReport.restore(castMap(m)) : new DataReport();
            report.onSkip(skip -> log("skipped %s", skip.describe()));
            try (TrainingData data = TrainingData.open(s.modelDir(), s.dataOptions(), report)) {
                data.warnings().forEach(w -> log("data: %s", w));
                return train(model, data, checkpoints, resume);
            }
        } finally {
            if (resume != null) resume.close();
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Map<?, ?> m) {
        return (Map<String, Object>) m;
    }

    private Outcome train(TrainableModel model, TrainingData data, CheckpointManager checkpoints, TrainingCheckpoint resume)
            throws IOException {
        DataLoader loader = data.loader();
        long perEpoch = Math.max(1, loader.batchesPerEpoch() / gradients.microBatchesPerStep());
        long total = s.maxSteps() > 0 ? s.maxSteps() : (long) Math.ceil(perEpoch * s.epochs());
        LrSchedule schedule = LrSchedule.of(s.scheduler(), s.learningRate(), total, s.warmupRatio(), s.warmupSteps());
        AdamW adamw = new AdamW(model.parameters(), AdamW.Options.defaults().withWeightDecay(s.weightDecay())
                .withBetas(s.adamBeta1(), s.adamBeta2()).withEps(s.adamEpsilon()).withMomentPrecision(s.momentPrecision()));
        TrainerState state = new TrainerState();
        long step = 0;
        LoaderPosition position = LoaderPosition.START;
        if (resume != null) {
            resume.restoreParameters(model.parameters());
            resume.restoreOptimizer(adamw);
            model.rebuild();
            state = resume.trainerState();
            step = resume.globalStep();
            Object pos = resume.rngState().get("data_position");
            if (pos instanceof Map<?, ?> m) position = LoaderPosition.fromMap(castMap(m));
            log("resumed from %s at step %d", resume.directory(), step);
        }
        state.maxSteps = total;
        state.saveSteps = s.saveSteps();
        state.trainBatchSize = s.batchSize();
        state.numTrainEpochs = s.maxSteps() > 0 ? Math.ceil((double) total / perEpoch) : s.epochs();
        MemoryPlan.check(model, s, err);
        log("training %,d parameters (%s) for %d steps: %d micro-batch(es) of %d per step, %d step(s) per epoch, lr %s (%s, %d warm-up steps)",
                model.parameters().numel(), model.options().parts() + (s.modelOptions().lora() != null ? " + LoRA r=" + s.modelOptions().lora().r() : ""),
                total, s.gradientAccumulation(), s.batchSize(), perEpoch, s.learningRate(), schedule.type().hfName(), schedule.warmupSteps());
        // An epoch-based run walks its epochs once: skipped records make the epochs shorter than the estimate
        // (total), and the run then ends with the data instead of wrapping around into an extra epoch.
        boolean byEpochs = s.maxSteps() <= 0;
        DataLoader.BatchIterator batches = byEpochs ? loader.batches(position, (int) Math.ceil(s.epochs()))
                : loader.batches(position);
        long started = System.nanoTime(), stepsThisRun = 0, tokensThisRun = 0;
        double lastLoss = Double.NaN;
        boolean stopped = false;
        while (step < total) {
            if (stopRequested.get() || s.stopAfterSteps() > 0 && step >= s.stopAfterSteps()) {
                stopped = true;
                break;
            }
            long t0 = System.nanoTime();
            if (byEpochs && !batches.hasNext()) {
                log("the data ended after step %d of the estimated %d (skipped records made the epochs shorter)", step, total);
                break;
            }
            StepGradients.StepTotals totals = gradients.compute(model, batches, step, byEpochs);
            long tokens = totals.tokens();
            double loss = totals.loss();
            double gradNorm = s.maxGradNorm() > 0 ? GradientClipping.clipGlobalNorm(model.parameters(), s.maxGradNorm())
                    : GradientClipping.globalNorm(model.parameters());
            double lr = schedule.lr(step);
            adamw.step(lr);
            model.rebuild();
            step++;
            stepsThisRun++;
            tokensThisRun += tokens;
            lastLoss = loss;
            double epoch = (double) step / perEpoch;
            state.epoch = epoch;
            state.numInputTokensSeen += tokens;
            state.logStep(step, round(epoch, 4), loss, lr, gradNorm);
            if (s.json()) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("step", step);
                line.put("loss", loss);
                line.put("learning_rate", lr);
                line.put("grad_norm", gradNorm);
                out.println(JSON.writeValueAsString(line));
                out.flush();
            }
            double stepS = (System.nanoTime() - t0) / 1e9, elapsed = (System.nanoTime() - started) / 1e9;
            double eta = elapsed / stepsThisRun * (total - step);
            log("step %d/%d | loss %.4f | lr %.3g | grad norm %.4g | %.1f tok/s | %.1f s/step | ETA %s",
                    step, total, loss, lr, gradNorm, tokens / stepS, stepS, duration(eta));
            if (s.evalData() != null && s.evalSteps() > 0 && step % s.evalSteps() == 0) evaluate(model, state, step, epoch);
            boolean last = step == total;
            if (s.saveSteps() > 0 && step % s.saveSteps() == 0 && !last) save(checkpoints, model, adamw, schedule, state, data, batches, step);
        }
        if (stopped && stepsThisRun == 0) {
            // Stopped before this run trained anything: a checkpoint would only repeat the start.
            log("stopped before the first step of this run: nothing new to save");
            return new Outcome(step, stopRequested.get(), lastLoss, s.outputDir());
        }
        if (stopped) {
            log("stopping at step %d of %d as asked: saving a checkpoint (continue with --resume-from-checkpoint)", step, total);
            save(checkpoints, model, adamw, schedule, state, data, batches, step);
            return new Outcome(step, stopRequested.get(), lastLoss, s.outputDir());
        }
        if (s.evalData() != null && (s.evalSteps() <= 0 || step % s.evalSteps() != 0)) evaluate(model, state, step, state.epoch);
        if (s.saveSteps() > 0 && step % s.saveSteps() == 0) save(checkpoints, model, adamw, schedule, state, data, batches, step);
        log("done: %d steps in %s (%.1f tok/s); %s", stepsThisRun, duration((System.nanoTime() - started) / 1e9),
                tokensThisRun / Math.max(1e-9, (System.nanoTime() - started) / 1e9), data.report().summary());
        writeFinal(model);
        return new Outcome(step, false, lastLoss, s.outputDir());
    }

    private void evaluate(TrainableModel model, TrainerState state, long step, double epoch) throws IOException {
        DataOptions evalOptions = s.dataOptions().withData(s.evalData()).withShuffle(false).withDropLast(false);
        double sum = 0;
        long targets = 0;
        try (TrainingData eval = TrainingData.open(s.modelDir(), evalOptions, new DataReport())) {
            DataLoader.BatchIterator it = eval.loader().batches(LoaderPosition.START, 1);
            while (it.hasNext()) {
                TrainableModel.StepResult r = model.evaluate(it.next());
                for (TrainableModel.ExampleResult e : r.examples()) {
                    sum += e.lossSum();
                    targets += e.targets();
                }
            }
        }
        double loss = sum / targets;
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("eval_loss", loss);
        entry.put("epoch", round(epoch, 4));
        entry.put("step", step);
        state.log(entry);
        log("eval at step %d: loss %.4f over %d targets", step, loss, targets);
        if (s.json()) {
            out.println(JSON.writeValueAsString(entry));
            out.flush();
        }
    }

    private void save(CheckpointManager checkpoints, TrainableModel model, AdamW adamw, LrSchedule schedule, TrainerState state,
                      TrainingData data, DataLoader.BatchIterator batches, long step) throws IOException {
        if (step == savedStep) return; // e.g. a stop or the data's end right after a --save-steps save
        state.skippedRecords = data.report().toMap();
        Map<String, Object> rng = new LinkedHashMap<>();
        rng.put("data_position", batches.position().toMap());
        rng.put("dropout_seed_rule", "seed * 1000003 + step * accumulation + micro-batch");
        SaveRequest.Builder request = SaveRequest.builder(step, model.parameters()).saveDType(s.saveDtype()).optimizer(adamw)
                .schedule(schedule).rngState(s.seed(), rng).trainerState(state).trainingArgs(s.toMap());
        if (model.options().lora() != null) request.extraFiles(dir -> model.loraAdapter().write(dir));
        Path saved = checkpoints.save(request.build());
        savedStep = step;
        log("saved %s", saved);
    }

    /** The final model: a full HF checkpoint, or for LoRA the adapter in PEFT's layout. */
    private void writeFinal(TrainableModel model) throws IOException {
        if (model.options().lora() != null) {
            model.loraAdapter().write(s.outputDir());
            log("wrote the LoRA adapter (PEFT layout) to %s; use it with --lora %s or merge it with instella train merge-lora",
                    s.outputDir(), s.outputDir());
        } else {
            FinalModelWriter.write(s.outputDir(), s.modelDir(), model.parameters(), s.saveDtype(), trainedConfig(model));
            log("wrote the trained model to %s (loads with instella run --model %s)", s.outputDir(), s.outputDir());
        }
    }

    /**
     * The base config.json with the run's image settings, as upstream's train.py writes them into the model config
     * ({@code image_aspect_ratio}, {@code mm_patch_merge_type}, {@code mm_tunable_parts}, {@code tokenizer_model_max_length}):
     * the saved model then preprocesses images at inference the way it was trained.
     */
    private String trainedConfig(TrainableModel model) throws IOException {
        var root = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(s.modelDir().resolve("config.json").toFile());
        if (model.config().hasVision()) {
            root.put("image_aspect_ratio", model.options().aspectRatio());
            root.put("mm_patch_merge_type", model.options().patchMergeType());
        }
        root.put("mm_tunable_parts", model.options().parts().toString());
        root.put("tokenizer_model_max_length", s.dataOptions().modelMaxLength());
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    }

    private void log(String format, Object... args) {
        err.println("train: " + String.format(Locale.ROOT, format, args));
        err.flush();
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    static String duration(double seconds) {
        if (!Double.isFinite(seconds)) return "?";
        long s = Math.round(seconds);
        if (s < 60) return s + "s";
        if (s < 3600) return (s / 60) + "m" + String.format(Locale.ROOT, "%02d", s % 60) + "s";
        return (s / 3600) + "h" + String.format(Locale.ROOT, "%02d", (s % 3600) / 60) + "m";
    }
}
