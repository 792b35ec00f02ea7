package io.instella.train.lora;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.Tensor;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraConfig;
import io.instella.model.lora.LoraException;
import io.instella.model.lora.LoraPair;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Which weights of a base checkpoint a {@link LoraConfig} adapts, and a fresh adapter for them initialised as peft
 * initialises one by default ({@code init_lora_weights=True}): lora_A uniform in ±1/√in (PyTorch's
 * {@code kaiming_uniform_(a=√5)} on an [r, in] matrix), lora_B zero, so training starts from the base model exactly.
 */
public final class LoraTargets {
    private LoraTargets() {}

    /** One adapted Linear: its module name, weight name and shape. */
    public record Target(String module, String weightName, int out, int in, int r, float scale) {}

    /**
     * The Linear layers of {@code base} that {@code config} selects (peft's rule on module names, see
     * {@link LoraConfig#targets}), in checkpoint order.
     *
     * @throws LoraException when the selection is empty or picks something that is not a Linear weight
     */
    public static List<Target> select(LoraConfig config, Checkpoint base) {
        List<Target> out = new ArrayList<>();
        for (String name : base.names()) {
            if (!name.endsWith(".weight")) continue;
            String module = name.substring(0, name.length() - ".weight".length());
            if (!config.targets(module)) continue;
            Tensor w = base.get(name);
            if (module.endsWith("embed_tokens") || module.contains("embedding") || w.rank() != 2) {
                throw new LoraException("LoRA target modules select '" + module + "' (" + w.dtype() + java.util.Arrays.toString(w.shape())
                        + "), which is not a Linear layer; only Linear layers can take an adapter here (narrow --lora-target-modules)");
            }
            if (!w.dtype().isFloatingPoint()) {
                throw new LoraException("'" + name + "' is stored as " + w.dtype() + "; train adapters on an unquantized checkpoint");
            }
            out.add(new Target(module, name, Math.toIntExact(w.dim(0)), Math.toIntExact(w.dim(1)), config.rankFor(module),
                    (float) config.scaleFor(module)));
        }
        if (out.isEmpty()) {
            String what = config.targetModulesRegex() != null ? "'" + config.targetModulesRegex() + "'" : config.targetModules().toString();
            throw new LoraException("LoRA target modules " + what + " select no layer of the model in " + base.location()
                    + " (module names look like model.layers.0.self_attn.q_proj)");
        }
        return out;
    }

    /** The base tensors trained in full and saved whole (modules_to_save), in checkpoint order. */
    public static List<String> wholeTensors(LoraConfig config, Checkpoint base) {
        List<String> out = new ArrayList<>();
        for (String name : base.names()) if (config.savesWhole(name)) out.add(name);
        if (out.isEmpty() && !config.modulesToSave().isEmpty()) {
            throw new LoraException("modules to save " + config.modulesToSave() + " match no tensor of the model in "
                    + base.location() + " (e.g. mm_projector)");
        }
        return out;
    }

    /**
     * A fresh adapter for every selected layer: A uniform in [-1/√in, 1/√in) from {@code seed}, B zero. Whole
     * tensors (modules_to_save) start as the base's values, in float32.
     */
    public static LoraAdapter initialize(LoraConfig config, Checkpoint base, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        LoraAdapter.Builder b = LoraAdapter.builder(config);
        for (Target t : select(config, base)) {
            float[] a = new float[Math.multiplyExact(t.r(), t.in())];
            double bound = 1.0 / Math.sqrt(t.in());
            for (int i = 0; i < a.length; i++) a[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
            b.pair(new LoraPair(t.module(), t.r(), t.in(), t.out(), a, new float[Math.multiplyExact(t.out(), t.r())]));
        }
        for (String name : wholeTensors(config, base)) {
            Tensor w = base.get(name);
            b.replacement(name, w.toFloatArray(), w.shape());
        }
        return b.build();
    }
}
