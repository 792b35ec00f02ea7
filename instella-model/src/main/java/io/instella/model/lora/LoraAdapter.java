package io.instella.model.lora;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A LoRA adapter in peft's layout: {@link LoraConfig} ({@code adapter_config.json}) plus the tensors of
 * {@code adapter_model.safetensors}, which peft names after the wrapped model ({@code PeftModelForCausalLM} →
 * {@code base_model} → {@code model}) with the adapter name ("default") removed:
 * <pre>
 *   base_model.model.&lt;module&gt;.lora_A.weight   [r, in]    for each adapted Linear &lt;module&gt;
 *   base_model.model.&lt;module&gt;.lora_B.weight   [out, r]
 *   base_model.model.&lt;tensor name&gt;             full replacement of a base tensor (modules_to_save, e.g.
 *                                              base_model.model.model.mm_projector.0.weight)
 * </pre>
 * Instances hold float32 copies of everything (adapters are small next to the model); the arrays are shared with
 * callers, not copied.
 */
public final class LoraAdapter {
    /** File name of the tensors in an adapter directory (peft's SAFETENSORS_WEIGHTS_NAME). */
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    /** Every key peft writes for a causal LM starts with this. */
    public static final String KEY_PREFIX = "base_model.model.";
    private static final String A_SUFFIX = ".lora_A.weight";
    private static final String B_SUFFIX = ".lora_B.weight";

    private final LoraConfig config;
    private final Map<String, LoraPair> pairs;
    private final Map<String, Tensor> replacements;

    private LoraAdapter(LoraConfig config, Map<String, LoraPair> pairs, Map<String, Tensor> replacements) {
        this.config = config;
        this.pairs = Collections.unmodifiableMap(new LinkedHashMap<>(pairs));
        this.replacements = Collections.unmodifiableMap(new LinkedHashMap<>(replacements));
    }

    public LoraConfig config() { return config; }

    /** The adapted layers by module name (e.g. {@code model.layers.0.self_attn.q_proj}), in file order. */
    public Map<String, LoraPair> pairs() { return pairs; }

    /** Base tensors replaced whole (modules_to_save), F32, by their name in the base checkpoint. */
    public Map<String, Tensor> replacements() { return replacements; }

    /** The factor B·A is multiplied by for the adapted module {@code module}. */
    public float scale(String module) { return (float) config.scaleFor(module); }

    public static Builder builder(LoraConfig config) { return new Builder(config); }

    /** Collects adapter pairs and whole tensors, e.g. from a trainer's float32 parameters. */
    public static final class Builder {
        private final LoraConfig config;
        private final Map<String, LoraPair> pairs = new LinkedHashMap<>();
        private final Map<String, Tensor> replacements = new LinkedHashMap<>();

        private Builder(LoraConfig config) {
            this.config = config;
        }

        /**
         * Adds the factors of one adapted Linear.
         *
         * @param module the module name ({@code model.layers.0.self_attn.q_proj}) or its weight's name (with
         *               {@code .weight}); the trailing {@code .weight} is dropped
         * @param a      lora_A [r, in] row-major
         * @param b      lora_B [out, r] row-major
         */
        public Builder pair(String module, int r, int in, int out, float[] a, float[] b) {
            return pair(new LoraPair(moduleOf(module), r, in, out, a, b));
        }

        public Builder pair(LoraPair p) {
            if (p.r() != config.rankFor(p.module())) {
                throw new IllegalArgumentException(p.module() + ": rank " + p.r() + " differs from the config's r = "
                        + config.rankFor(p.module()) + " for it");
            }
            if (pairs.putIfAbsent(p.module(), p) != null) throw new IllegalArgumentException(p.module() + ": adapter added twice");
            return this;
        }

        /** Adds a fully trained base tensor (modules_to_save), e.g. {@code model.mm_projector.0.weight}. */
        public Builder replacement(String tensorName, float[] values, long... shape) {
            if (replacements.putIfAbsent(tensorName, Tensor.ofFloats(tensorName, values, shape)) != null) {
                throw new IllegalArgumentException(tensorName + ": replacement added twice");
            }
            return this;
        }

        public LoraAdapter build() {
            return new LoraAdapter(config, pairs, replacements);
        }

        private static String moduleOf(String name) {
            return name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
        }
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code adapter_config.json} and {@code adapter_model.safetensors} (F32, metadata format=pt as peft
     * writes) into {@code dir}, creating it. Each file is moved into place complete; for a whole-directory atomic
     * save, write into a temporary directory and rename it (as the trainer's checkpoints do).
     */
    public void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        for (LoraPair p : pairs.values()) {
            w.addFloats(KEY_PREFIX + p.module() + A_SUFFIX, p.a(), p.r(), p.in());
            w.addFloats(KEY_PREFIX + p.module() + B_SUFFIX, p.b(), p.out(), p.r());
        }
        for (Tensor t : replacements.values()) {
            w.add(new Tensor(KEY_PREFIX + t.name(), t.dtype(), t.shape(), t.data()));
        }
        w.write(dir.resolve(WEIGHTS_FILE));
        config.write(dir);
    }

    // ---------------------------------------------------------------- reading

    /**
     * Reads an adapter directory written by peft's {@code save_pretrained} (or by {@link #write}). The tensors may
     * be F32, BF16 or F16; they are widened to float32.
     */
    public static LoraAdapter read(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new LoraException(dir + ": no such LoRA adapter directory (expected a folder with adapter_config.json "
                    + "and adapter_model.safetensors)");
        }
        LoraConfig config = LoraConfig.read(dir);
        Path file = dir.resolve(WEIGHTS_FILE);
        if (!Files.isRegularFile(file)) {
            String hint = Files.isRegularFile(dir.resolve("adapter_model.bin"))
                    ? " (adapter_model.bin is a pickle file, which is not read: save the adapter with safe_serialization=True)"
                    : "";
            throw new LoraException(dir + ": no " + WEIGHTS_FILE + hint);
        }
        Map<String, float[]> aValues = new LinkedHashMap<>();
        Map<String, long[]> aShapes = new LinkedHashMap<>();
        Map<String, float[]> bValues = new LinkedHashMap<>();
        Map<String, long[]> bShapes = new LinkedHashMap<>();
        Map<String, Tensor> replacements = new LinkedHashMap<>();
        try (SafeTensorsFile st = SafeTensorsFile.open(file)) {
            for (SafeTensorsFile.Entry e : st.entries().values()) {
                String key = e.name();
                if (!key.startsWith(KEY_PREFIX)) {
                    throw new LoraException(file + ": tensor '" + key + "' does not start with '" + KEY_PREFIX
                            + "' (not a peft adapter for a causal language model)");
                }
                if (!e.dtype().isFloatingPoint() || e.dtype() == DType.F64) {
                    throw new LoraException(file + ": tensor '" + key + "' is " + e.dtype() + ", expected F32, BF16 or F16");
                }
                Tensor t = st.tensor(key);
                String rest = key.substring(KEY_PREFIX.length());
                if (rest.endsWith(A_SUFFIX)) {
                    String module = rest.substring(0, rest.length() - A_SUFFIX.length());
                    aValues.put(module, matrix(file, t));
                    aShapes.put(module, t.shape());
                } else if (rest.endsWith(B_SUFFIX)) {
                    String module = rest.substring(0, rest.length() - B_SUFFIX.length());
                    bValues.put(module, matrix(file, t));
                    bShapes.put(module, t.shape());
                } else if (rest.contains("lora_")) {
                    throw new LoraException(file + ": tensor '" + key + "' is a kind of LoRA weight this engine does not "
                            + "apply (only lora_A/lora_B of Linear layers are; embeddings and DoRA are not)");
                } else {
                    replacements.put(rest, Tensor.ofFloats(rest, t.toFloatArray(), t.shape()));
                }
            }
        } catch (SafeTensorsException e) {
            throw new LoraException(file + ": not a readable safetensors file (" + e.getMessage() + ")", e);
        }
        Map<String, LoraPair> pairs = new LinkedHashMap<>();
        for (String module : aValues.keySet()) {
            if (!bValues.containsKey(module)) throw new LoraException(file + ": '" + module + "' has lora_A but no lora_B");
        }
        for (Map.Entry<String, float[]> be : bValues.entrySet()) {
            String module = be.getKey();
            if (!aValues.containsKey(module)) throw new LoraException(file + ": '" + module + "' has lora_B but no lora_A");
            long[] as = aShapes.get(module), bs = bShapes.get(module);
            if (as[0] != bs[1]) {
                throw new LoraException(file + ": '" + module + "': lora_A is " + Arrays.toString(as) + " and lora_B is "
                        + Arrays.toString(bs) + "; their ranks (A rows, B columns) differ");
            }
            int rank = config.rankFor(module);
            if (as[0] != rank) {
                throw new LoraException(file + ": '" + module + "' has rank " + as[0] + " but adapter_config.json says r = "
                        + rank + " for it (the config and the weights belong to different adapters)");
            }
            pairs.put(module, new LoraPair(module, (int) as[0], (int) as[1], (int) bs[0], aValues.get(module), be.getValue()));
        }
        if (pairs.isEmpty() && replacements.isEmpty()) throw new LoraException(file + ": holds no adapter tensors");
        return new LoraAdapter(config, pairs, replacements);
    }

    private static float[] matrix(Path file, Tensor t) {
        if (t.rank() != 2) {
            throw new LoraException(file + ": tensor '" + t.name() + "' has shape " + Arrays.toString(t.shape()) + ", expected a matrix");
        }
        if (t.numel() > Integer.MAX_VALUE - 8) throw new LoraException(file + ": tensor '" + t.name() + "' is too large");
        return t.toFloatArray();
    }

    // ---------------------------------------------------------------- checking against a base model

    /**
     * Checks that every adapted layer and every replacement exists in {@code base} with a matching shape, and that
     * the base holds wide float weights there. All problems are listed at once.
     */
    public void checkAgainst(Checkpoint base) {
        List<String> problems = new ArrayList<>();
        for (LoraPair p : pairs.values()) {
            String name = p.baseWeightName();
            if (!base.contains(name)) {
                problems.add("the adapter has layer '" + p.module() + "' but the model has no tensor '" + name + "'");
                continue;
            }
            Tensor w = base.get(name);
            long[] expected = {p.out(), p.in()};
            if (!Arrays.equals(w.shape(), expected)) {
                problems.add("'" + name + "' is " + Arrays.toString(w.shape()) + " in the model but the adapter's lora_B·lora_A is "
                        + Arrays.toString(expected) + " (lora_A " + Arrays.toString(new long[]{p.r(), p.in()}) + ", lora_B "
                        + Arrays.toString(new long[]{p.out(), p.r()}) + ")");
            } else if (!w.dtype().isFloatingPoint()) {
                problems.add("'" + name + "' is stored as " + w.dtype() + " in the model; apply adapters to the unquantized "
                        + "checkpoint (and quantize at load with --quant)");
            }
        }
        for (Tensor t : replacements.values()) {
            if (!base.contains(t.name())) {
                problems.add("the adapter replaces '" + t.name() + "' but the model has no such tensor");
                continue;
            }
            Tensor w = base.get(t.name());
            if (!Arrays.equals(w.shape(), t.shape())) {
                problems.add("'" + t.name() + "' is " + Arrays.toString(w.shape()) + " in the model but "
                        + Arrays.toString(t.shape()) + " in the adapter");
            }
        }
        if (!problems.isEmpty()) {
            String shown = String.join("; ", problems.subList(0, Math.min(problems.size(), 5)))
                    + (problems.size() > 5 ? "; and " + (problems.size() - 5) + " more" : "");
            throw new LoraException("the LoRA adapter does not fit the model in " + base.location() + ": " + shown
                    + " (is it an adapter for a different model?)");
        }
    }

    // ---------------------------------------------------------------- applying

    /**
     * The base tensors this adapter changes, merged: W + scale · B·A for each adapted layer and the saved tensor for
     * each replacement, computed in float32 and stored as {@code storeAs} (F32, BF16 round-to-nearest-even, or F16),
     * or null for each base tensor's own type. Checks the adapter against the base first.
     */
    public Map<String, Tensor> mergedTensors(Checkpoint base, DType storeAs) {
        checkAgainst(base);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : changedTensorNames()) {
            Tensor w = base.get(name);
            out.put(name, LoraMerge.store(name, mergedValues(base, name), w.shape(), typeFor(w, storeAs)));
        }
        return out;
    }

    /** Names of the base tensors this adapter changes: adapted weights, then replacements. */
    public Set<String> changedTensorNames() {
        Set<String> names = new LinkedHashSet<>();
        pairs.values().forEach(p -> names.add(p.baseWeightName()));
        names.addAll(replacements.keySet());
        return names;
    }

    /**
     * The float32 values of one changed base tensor (see {@link #changedTensorNames}): W + scale · B·A for an adapted
     * weight, the saved values for a replacement. Call {@link #checkAgainst} first.
     */
    public float[] mergedValues(Checkpoint base, String tensorName) {
        Tensor replaced = replacements.get(tensorName);
        if (replaced != null) return replaced.toFloatArray();
        String module = tensorName.endsWith(".weight") ? tensorName.substring(0, tensorName.length() - ".weight".length()) : tensorName;
        LoraPair p = pairs.get(module);
        if (p == null || !p.baseWeightName().equals(tensorName)) throw new IllegalArgumentException(tensorName + " is not changed by this adapter");
        return LoraMerge.merge(base.get(tensorName), p, scale(module));
    }

    /**
     * A view of {@code base} with this adapter merged in (see {@link #mergedTensors}): what {@code --lora DIR} hands
     * to the model. The view shares the base's mapped files; close {@code base}, not the view, to unmap them.
     */
    public Checkpoint applyTo(Checkpoint base, DType storeAs) {
        return base.withOverrides(mergedTensors(base, storeAs));
    }

    /**
     * The load-time hook for {@code --lora DIR} ({@link io.instella.model.InstellaVL#load(Path, DType,
     * java.util.function.UnaryOperator)}): reads the adapter now, so a bad directory fails before the model is
     * opened, and merges it into the opened checkpoint, each merged weight in its base tensor's own type (so the
     * model equals {@code instella train merge-lora}'s output at its default --save-dtype). Null: no adapter.
     */
    public static UnaryOperator<Checkpoint> atLoad(Path adapterDir) {
        if (adapterDir == null) return UnaryOperator.identity();
        LoraAdapter adapter = read(adapterDir);
        return base -> adapter.applyTo(base, null);
    }

    /** The type a merged tensor is stored as: {@code storeAs}, or the base tensor's own (wide) type. */
    public static DType typeFor(Tensor base, DType storeAs) {
        DType t = storeAs != null ? storeAs : base.dtype();
        if (t != DType.F32 && t != DType.BF16 && t != DType.F16) {
            throw new LoraException("cannot store merged weights as " + t + " (f32, bf16 or f16)");
        }
        return t;
    }
}
