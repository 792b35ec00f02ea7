package io.instella.model.lora;

/**
 * The two low-rank factors of one adapted linear layer, as peft stores them: {@code lora_A.weight} [r, in] and
 * {@code lora_B.weight} [out, r], row-major float32. The layer's weight W [out, in] becomes W + scale · B·A.
 *
 * @param module the module name, e.g. {@code model.layers.0.self_attn.q_proj} (its weight is {@code module + ".weight"})
 */
public record LoraPair(String module, int r, int in, int out, float[] a, float[] b) {
    public LoraPair {
        if (r < 1 || in < 1 || out < 1) throw new IllegalArgumentException(module + ": LoRA shapes must be positive (r " + r + ", in " + in + ", out " + out + ")");
        if (a.length != (long) r * in) throw new IllegalArgumentException(module + ": lora_A holds " + a.length + " values, [r, in] = [" + r + ", " + in + "] needs " + (long) r * in);
        if (b.length != (long) out * r) throw new IllegalArgumentException(module + ": lora_B holds " + b.length + " values, [out, r] = [" + out + ", " + r + "] needs " + (long) out * r);
    }

    /** The name of the base weight this pair adapts. */
    public String baseWeightName() { return module + ".weight"; }
}
