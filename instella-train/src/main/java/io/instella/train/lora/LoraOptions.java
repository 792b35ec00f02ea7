package io.instella.train.lora;

import io.instella.model.lora.LoraConfig;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * The LoRA options of {@code instella train} (a picocli mixin): giving {@code --lora-r} turns LoRA on. Defaults are
 * upstream LLaVA-NeXT's ({@code lora_r 64, lora_alpha 16, lora_dropout 0.05}), with every linear layer of the
 * language model as the target.
 */
public final class LoraOptions {
    @Option(names = "--lora-r", paramLabel = "R",
            description = "Train a LoRA adapter of this rank instead of the full weights (upstream uses 64).")
    public Integer r;

    @Option(names = "--lora-alpha", paramLabel = "ALPHA", defaultValue = "16",
            description = "LoRA alpha; the update is scaled by alpha / r (default: ${DEFAULT-VALUE}).")
    public double alpha;

    @Option(names = "--lora-dropout", paramLabel = "P", defaultValue = "0.05",
            description = "Dropout on the adapter's input during training (default: ${DEFAULT-VALUE}).")
    public double dropout;

    @Option(names = "--lora-target-modules", paramLabel = "NAMES", split = ",",
            description = "Modules to adapt: names matched as peft does (a module whose name ends with one; note that "
                    + "q_proj, k_proj and v_proj also name the vision tower's), or one regular expression over whole "
                    + "module names (default: every linear layer of the language model, q/k/v/o/gate/up/down_proj).")
    public List<String> targetModules = new ArrayList<>();

    @Option(names = "--lora-modules-to-save", paramLabel = "NAMES", split = ",",
            description = "Modules trained in full beside the adapter and saved whole, e.g. mm_projector (default: none).")
    public List<String> modulesToSave = new ArrayList<>();

    @Option(names = "--lora-rslora", description = "Rank-stabilised scale alpha / sqrt(r) instead of alpha / r.")
    public boolean rslora;

    /** Whether LoRA training was asked for. */
    public boolean enabled() { return r != null; }

    /** The adapter config these options describe, for the base model named {@code baseModel} (a path or repo id). */
    public LoraConfig config(String baseModel) {
        if (r == null) throw new IllegalStateException("LoRA is off (no --lora-r)");
        try {
            return LoraConfig.of(r, alpha, dropout, targetModules, modulesToSave, baseModel).withRslora(rslora);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("LoRA options: " + e.getMessage(), e);
        }
    }
}
