package io.instella.train.cli;

import io.instella.core.kernels.Parallel;
import io.instella.core.tensor.DType;
import io.instella.model.InstellaException;
import io.instella.model.config.InstellaConfig;
import io.instella.train.data.DataOptions;
import io.instella.train.init.InstellaAssembly;
import io.instella.train.lora.LoraOptions;
import io.instella.train.model.TrainableModel;
import io.instella.train.model.TunableParts;
import io.instella.train.optim.AdamW;
import io.instella.train.run.TrainingRun;
import io.instella.train.run.TrainingSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code instella train}: the three-stage Instella-VL recipe (or LoRA) on LLaVA-format data, with upstream's flag
 * names. {@code --stage 1|2|3} sets the seed's per-stage values (spec §7.1); every flag overrides its preset value.
 */
@Command(name = "train", mixinStandardHelpOptions = true, subcommands = {GradsCommand.class, MergeLoraCommand.class},
        description = {"Train Instella-VL: stage 1 (projector), 2-3 (everything), or a LoRA adapter, on LLaVA-format data.",
                "Example: instella train --stage 1 --language-model OLMO --vision-tower CLIP --data blip.json --image-folder imgs --output-dir out"})
public class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "DIR", description = "Instella checkpoint to train from (stage 2-3, LoRA).")
    Path model;

    @Option(names = "--language-model", paramLabel = "DIR", description = "With --vision-tower: build the start checkpoint from an HF OLMo checkpoint ...")
    Path languageModel;

    @Option(names = "--vision-tower", paramLabel = "DIR", description = "... and an HF CLIP checkpoint (fresh projector; stage 2: fresh image_newline).")
    Path visionTower;

    @Option(names = "--pretrain-mm-mlp-adapter", paramLabel = "FILE", description = "Stage 2 from OLMo + CLIP: the stage-1 projector (.safetensors or a checkpoint dir).")
    Path pretrainAdapter;

    @Option(names = "--stage", paramLabel = "1|2|3", description = "The seed's per-stage settings (parts, image mode, lr, epochs, lengths, batch).")
    Integer stage;

    @Mixin
    DataFlags data;

    @Mixin
    LoraOptions lora;

    @Option(names = "--output-dir", paramLabel = "DIR", description = "Checkpoints (checkpoint-N/) and the final model go here.")
    Path outputDir;

    @Option(names = "--learning-rate", paramLabel = "LR") Double learningRate;
    @Option(names = "--lr-scheduler-type", paramLabel = "TYPE", description = "cosine, linear, constant, constant_with_warmup.") String scheduler;
    @Option(names = "--warmup-ratio", paramLabel = "R") Double warmupRatio;
    @Option(names = "--warmup-steps", paramLabel = "N", defaultValue = "0") long warmupSteps;
    @Option(names = "--weight-decay", paramLabel = "W", defaultValue = "0") double weightDecay;
    @Option(names = "--adam-beta1", defaultValue = "0.9") double beta1;
    @Option(names = "--adam-beta2", defaultValue = "0.999") double beta2;
    @Option(names = "--adam-epsilon", defaultValue = "1e-8") double epsilon;
    @Option(names = "--optim-state", paramLabel = "f32|bf16", defaultValue = "f32",
            description = "AdamW moments in float32 (exact) or bfloat16 (12 instead of 16 bytes per trained parameter).") String optimState;
    @Option(names = "--max-grad-norm", paramLabel = "G", defaultValue = "1.0", description = "Global-norm clipping; 0 = none.") double maxGradNorm;
    @Option(names = "--max-steps", paramLabel = "N", defaultValue = "0", description = "Optimizer steps (0 = --num-train-epochs over the data).") long maxSteps;
    @Option(names = "--num-train-epochs", paramLabel = "E") Double epochs;
    @Option(names = "--per-device-train-batch-size", paramLabel = "B") Integer batchSize;
    @Option(names = "--gradient-accumulation-steps", paramLabel = "N") Integer accumulation;
    @Option(names = "--dataloader-drop-last", description = "Drop the last incomplete batch of each epoch.") Boolean dropLast;
    @Option(names = "--no-shuffle", description = "Keep the data's order (default: shuffled each epoch from --seed).") boolean noShuffle;
    @Option(names = "--save-steps", paramLabel = "N", defaultValue = "500") long saveSteps;
    @Option(names = "--save-total-limit", paramLabel = "K", defaultValue = "0", description = "Keep only the newest K checkpoints (0 = all).") int saveTotalLimit;
    @Option(names = "--save-dtype", paramLabel = "bf16|f32", description = "Type of saved trained tensors (default: each tensor's type in the checkpoint).") String saveDtype;
    @Option(names = "--resume-from-checkpoint", paramLabel = "DIR|latest", arity = "0..1", fallbackValue = "latest") String resume;
    @Option(names = "--eval-data", paramLabel = "FILE", description = "Records to compute an eval loss on.") Path evalData;
    @Option(names = "--eval-steps", paramLabel = "N", defaultValue = "0", description = "Eval loss every N steps (0 = at the end).") long evalSteps;
    @Option(names = "--seed", defaultValue = "42") long seed;
    @Option(names = "--threads", paramLabel = "N", description = "Compute threads (default: all cores).") Integer threads;
    @Option(names = "--stop-after-steps", paramLabel = "N", defaultValue = "0",
            description = "Stop with a checkpoint at global step N (the schedule still spans every step); resume later.") long stopAfterSteps;
    @Option(names = "--json", description = "One JSON object per optimizer step on stdout: step, loss, learning_rate, grad_norm.") boolean json;

    /** The seed's per-stage values (spec §7.1). Batch = per-device × accumulation = the global batch of 256. */
    record Preset(String parts, String aspect, String merge, double lr, double epochs, int maxLength, int batch, int accumulation,
                  boolean dropLast) {
        static Preset of(int stage) {
            return switch (stage) {
                case 1 -> new Preset("mm_mlp_adapter", "square", "flat", 1e-3, 1, 8192, 32, 8, false);
                case 2 -> new Preset("mm_vision_tower,mm_mlp_adapter,mm_language_model", "anyres", "spatial_unpad", 1e-5, 1, 32768, 16, 16, true);
                case 3 -> new Preset("mm_vision_tower,mm_mlp_adapter,mm_language_model", "anyres", "spatial_unpad", 1e-5, 2, 32768, 4, 64, true);
                default -> throw new InstellaException("--stage is 1, 2 or 3, not " + stage);
            };
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        if (threads != null) Parallel.setThreads(threads);
        if (outputDir == null) throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--output-dir=DIR'");
        data.requireData();
        if (Files.exists(outputDir) && !Files.isDirectory(outputDir)) {
            throw new InstellaException("--output-dir " + outputDir + " is a file; give a folder (it is created if missing)");
        }
        if (data.imageFolder != null && !Files.isDirectory(data.imageFolder)) {
            throw new InstellaException("--image-folder " + data.imageFolder + ": no such folder");
        }
        Preset preset = stage == null ? null : Preset.of(stage);
        Path modelDir = startingCheckpoint(preset, err);
        InstellaConfig config = InstellaConfig.load(modelDir);
        String aspect = first(data.aspectRatio, preset == null ? null : preset.aspect(),
                config.hasVision() ? config.multimodal().imageAspectRatio() : null, "square");
        String merge = first(data.mergeType, preset == null ? null : preset.merge(),
                config.hasVision() ? config.multimodal().patchMergeType() : null, "flat");
        String partsText = first(data.tunableParts, preset == null ? null : preset.parts(), lora.enabled() ? "none" : null, null);
        if (partsText == null) {
            throw new InstellaException("say what to train: --stage 1|2|3, --mm-tunable-parts (mm_mlp_adapter, mm_vision_tower,"
                    + " mm_language_model) or --lora-r R");
        }
        int maxLength = data.modelMaxLength != null ? data.modelMaxLength : preset != null ? preset.maxLength() : 32768;
        int batch = batchSize != null ? batchSize : preset != null ? preset.batch() : 1;
        int accum = accumulation != null ? accumulation : preset != null ? preset.accumulation() : 1;
        if (batch < 1 || accum < 1) throw new InstellaException("--per-device-train-batch-size and --gradient-accumulation-steps must be at least 1");
        boolean drop = dropLast != null ? dropLast : preset != null && preset.dropLast();
        DataOptions dataOptions = DataOptions.of(data.requireData()).withImageFolder(data.imageFolder).withImageAspectRatio(aspect)
                .withMergeType(merge).withModelMaxLength(maxLength).withTruncate(data.truncate).withStrict(data.strict)
                .withSeed(seed).withBatchSize(batch).withDropLast(drop).withShuffle(!noShuffle);
        if (data.dataThreads != null) dataOptions = dataOptions.withThreads(data.dataThreads);
        TunableParts parts = TunableParts.parse(partsText);
        if (lora.enabled()) {
            // A LoRA run saves only the adapter: a part trained in full must travel in it (modules_to_save) or be lost.
            if (parts.languageModel() || parts.visionTower()) {
                throw new InstellaException("with --lora-r only the adapter is saved, so --mm-tunable-parts " + partsText
                        + " would train the language model or vision tower in full and lose it: give --mm-tunable-parts"
                        + " mm_mlp_adapter (the projector is then saved whole in the adapter) or none, or train without --lora-r");
            }
            if (config.hasVision() && (!aspect.equals(config.multimodal().imageAspectRatio())
                    || !merge.equals(config.multimodal().patchMergeType()))) {
                err.printf("train: note: an adapter does not carry image settings: with --lora or after merge-lora the base's"
                                + " %s / %s apply at inference, not this run's %s / %s%n", config.multimodal().imageAspectRatio(),
                        config.multimodal().patchMergeType(), aspect, merge);
                err.flush();
            }
            if (parts.projector() && lora.modulesToSave.stream().noneMatch(m -> m.contains("mm_projector"))) {
                lora.modulesToSave.add("mm_projector");
                err.println("train: the projector is trained in full and saved whole in the adapter (--lora-modules-to-save mm_projector)");
                err.flush();
            }
        }
        var loraConfig = lora.enabled() ? lora.config(modelDir.toString()) : null;
        TrainableModel.Options modelOptions = new TrainableModel.Options(parts, aspect, merge, maxLength, loraConfig, seed);
        DType save = saveDtype == null ? null : switch (saveDtype.toLowerCase(Locale.ROOT)) {
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--save-dtype is bf16 or f32, not " + saveDtype);
        };
        TrainingSettings settings = new TrainingSettings(modelDir, outputDir, modelOptions, dataOptions,
                learningRate != null ? learningRate : preset != null ? preset.lr() : 2e-5,
                scheduler != null ? scheduler : "cosine", warmupRatio != null ? warmupRatio : 0.03, warmupSteps, weightDecay,
                beta1, beta2, epsilon, AdamW.MomentPrecision.parse(optimState), maxGradNorm, maxSteps,
                epochs != null ? epochs : preset != null ? preset.epochs() : 1, accum, saveSteps, saveTotalLimit, save, resume,
                evalData, evalSteps, seed, json, stopAfterSteps);
        TrainingRun run = newRun(settings, out, err);
        // Ctrl-C: finish the current step, save a checkpoint, then let the JVM exit.
        Thread hook = new Thread(() -> {
            run.requestStop();
            err.println("train: interrupted: finishing the current step, then saving a checkpoint");
            err.flush();
            try {
                run.awaitFinished(10, TimeUnit.MINUTES);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "instella-train-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            TrainingRun.Outcome outcome = run.run();
            return outcome.stoppedEarly() ? 130 : 0;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running (Ctrl-C): it waits for us
            }
        }
    }

    /** The run of the resolved settings; a subclass may compute the step gradients elsewhere (data-parallel workers). */
    protected TrainingRun newRun(TrainingSettings settings, PrintWriter out, PrintWriter err) {
        return new TrainingRun(settings, out, err);
    }

    /** --model, or the checkpoint assembled from --language-model + --vision-tower into OUTPUT/base-model. */
    private Path startingCheckpoint(Preset preset, PrintWriter err) throws Exception {
        if (languageModel == null && visionTower == null) {
            if (model == null) throw new InstellaException("give --model DIR, or --language-model DIR and --vision-tower DIR");
            if (!Files.isDirectory(model)) throw new InstellaException(model + ": no such model directory");
            return model;
        }
        if (languageModel == null || visionTower == null || model != null) {
            throw new InstellaException("--language-model and --vision-tower go together, instead of --model");
        }
        Path base = outputDir.resolve("base-model");
        if (Files.isRegularFile(base.resolve("config.json"))) {
            err.println("train: using the start checkpoint assembled earlier in " + base);
            return base;
        }
        boolean unpad = (data.mergeType != null ? data.mergeType : preset != null ? preset.merge() : "flat").contains("unpad");
        InstellaAssembly.Options options = unpad ? InstellaAssembly.Options.stage2(seed, pretrainAdapter)
                : InstellaAssembly.Options.stage1(seed).withProjectorFrom(pretrainAdapter);
        options = options.withDtype(DType.BF16);
        var result = InstellaAssembly.assemble(languageModel, visionTower, options, base);
        err.printf("train: assembled the start checkpoint in %s (%s projector%s)%n", result.directory(),
                result.freshProjector() ? "fresh" : "given", result.freshImageNewline() ? ", fresh image_newline" : "");
        result.notes().forEach(n -> err.println("train: " + n));
        err.flush();
        return base;
    }

    private static String first(String... values) {
        for (String v : values) if (v != null) return v;
        return null;
    }
}
