package io.instella.train.optim;

import io.instella.core.kernels.Parallel;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * AdamW with the semantics of torch 1.13 {@code torch.optim.AdamW} (single-tensor path, amsgrad off), the
 * optimizer the upstream trainer builds ({@code adamw_torch}; DeepSpeed's AdamW in stages 2-3 uses the same
 * formula). Per parameter that has a gradient, elementwise in float32 with double-precision scalars, in
 * torch's operation order (the fused multiply-adds are where ATen's x86 build fuses; with them every parameter
 * and moment of the golden runs, 2 constant-lr steps and 3 clip + cosine steps, is bit-identical to torch's):
 * <pre>
 *   step += 1
 *   p   = p * (float)(1 - lr*wd)                          (param.mul_)
 *   m   = fma(g, (float)(1-b1), m * (float)b1)            (exp_avg.mul_(b1).add_(g, alpha=1-b1): ATen's vector fmadd)
 *   v   = fma((float)(1-b2) * g, g, v * (float)b2)         (exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2), contracted)
 *   bc1 = 1 - b1^step, bc2 = 1 - b2^step                  (Python doubles)
 *   d   = sqrt(v) / (float)sqrt(bc2) + (float)eps         ((exp_avg_sq.sqrt() / bc2_sqrt).add_(eps))
 *   p   = p + ((float)(-lr/bc1) * m) / d                  (param.addcdiv_(exp_avg, denom, value=-step_size))
 * </pre>
 * A parameter whose gradient is null is skipped and its step count does not advance (torch keeps
 * {@code state['step']} per parameter and only touches parameters with a gradient).
 * <p>
 * Weight decay follows the HF Trainer's no-decay split ({@link #hfDecayRule}). With
 * {@link MomentPrecision#BF16} both moments are kept as bfloat16 (rounded to nearest even after every update),
 * 4 bytes per parameter instead of 8. Every operation is elementwise, so the result does not depend on the
 * number of threads.
 */
public final class AdamW {
    /** How the two moment buffers are stored. */
    public enum MomentPrecision {
        /** float32, as torch: bit-faithful. */
        F32,
        /**
         * bfloat16, rounded to nearest even after each update: half the optimizer memory. The update itself is
         * computed in float32. Caveat: a value changes in BF16 only when the change exceeds half a BF16 step
         * (0.2%), so with beta2 = 0.999 the second moment does not decay while gradients shrink (it still grows
         * with larger ones), and steps can come out smaller than with float32 moments. On a noisy least-squares
         * problem (MomentPrecisionEffectTest) the final loss is the same to 3 digits.
         */
        BF16;

        public static MomentPrecision parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "f32", "fp32", "float32" -> F32;
                case "bf16", "bfloat16" -> BF16;
                default -> throw new IllegalArgumentException("unknown optimizer state precision '" + s + "' (f32 or bf16)");
            };
        }
    }

    /**
     * The hyper-parameters. {@link #defaults()} are HF {@code TrainingArguments}' (betas (0.9, 0.999), eps 1e-8,
     * weight decay 0) with float32 moments and the HF no-decay rule.
     */
    public record Options(double beta1, double beta2, double eps, double weightDecay,
                          MomentPrecision momentPrecision, Predicate<String> decayRule) {
        public Options {
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("AdamW betas must be in [0, 1), got (" + beta1 + ", " + beta2 + ")");
            }
            if (!(eps >= 0)) throw new IllegalArgumentException("AdamW eps must be >= 0, got " + eps);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
            if (momentPrecision == null) momentPrecision = MomentPrecision.F32;
            if (decayRule == null) decayRule = AdamW::hfDecayRule;
        }

        public static Options defaults() {
            return new Options(0.9, 0.999, 1e-8, 0.0, MomentPrecision.F32, AdamW::hfDecayRule);
        }

        public Options withWeightDecay(double wd) {
            return new Options(beta1, beta2, eps, wd, momentPrecision, decayRule);
        }

        public Options withBetas(double b1, double b2) {
            return new Options(b1, b2, eps, weightDecay, momentPrecision, decayRule);
        }

        public Options withEps(double e) {
            return new Options(beta1, beta2, e, weightDecay, momentPrecision, decayRule);
        }

        public Options withMomentPrecision(MomentPrecision p) {
            return new Options(beta1, beta2, eps, weightDecay, p, decayRule);
        }

        /** Which parameter names get weight decay (the others get 0). */
        public Options withDecayRule(Predicate<String> rule) {
            return new Options(beta1, beta2, eps, weightDecay, momentPrecision, rule);
        }
    }

    /**
     * HF Trainer's split ({@code Trainer.get_decay_parameter_names}, also LLaVA's {@code create_optimizer}): no
     * decay for every parameter whose full name contains "bias", nor for the parameters of {@code nn.LayerNorm}
     * modules. The LayerNorm modules of this model family are recognised by their module name (the segment
     * before ".weight"/".bias") containing "norm": CLIP's {@code layer_norm1}, {@code layer_norm2},
     * {@code pre_layrnorm}, {@code post_layernorm}; OLMo's LayerNorm has no parameters. Everything else
     * (linear and patch weights, embeddings, class/position embeddings, {@code image_newline}, LoRA A/B) decays.
     */
    public static boolean hfDecayRule(String name) {
        if (name.contains("bias")) return false;
        int dot = name.lastIndexOf('.');
        if (dot < 0) return true;
        String module = name.substring(0, dot);
        String last = module.substring(module.lastIndexOf('.') + 1).toLowerCase(Locale.ROOT);
        return !last.contains("norm");
    }

    /** The state of one parameter: its own step count and the two moments (float32 or bfloat16). */
    public static final class State {
        private long step;
        private final float[] expAvg, expAvgSq;
        private final short[] expAvgBf16, expAvgSqBf16;
        private final long[] shape;

        private State(long[] shape, int n, MomentPrecision precision) {
            this.shape = shape;
            if (precision == MomentPrecision.F32) {
                expAvg = new float[n];
                expAvgSq = new float[n];
                expAvgBf16 = expAvgSqBf16 = null;
            } else {
                expAvg = expAvgSq = null;
                expAvgBf16 = new short[n];
                expAvgSqBf16 = new short[n];
            }
        }

        /** How many updates this parameter has had (torch's {@code state['step']}). */
        public long step() { return step; }

        public DType momentType() { return expAvg != null ? DType.F32 : DType.BF16; }

        /** The first moment as float32 values (a copy). */
        public float[] expAvg() { return expAvg != null ? expAvg.clone() : widen(expAvgBf16); }

        /** The second moment as float32 values (a copy). */
        public float[] expAvgSq() { return expAvgSq != null ? expAvgSq.clone() : widen(expAvgSqBf16); }

        /** A tensor viewing the live first-moment buffer (F32 or BF16): for writing a checkpoint. */
        public Tensor expAvgTensor(String name) { return view(name, expAvg, expAvgBf16); }

        /** A tensor viewing the live second-moment buffer (F32 or BF16): for writing a checkpoint. */
        public Tensor expAvgSqTensor(String name) { return view(name, expAvgSq, expAvgSqBf16); }

        private Tensor view(String name, float[] f, short[] b) {
            if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                // Tensors are little-endian; a heap view of a Java array is in native order.
                return f != null ? Tensor.ofFloats(name, f.clone(), shape) : new Tensor(name, DType.BF16, shape, littleEndian(b));
            }
            return f != null ? new Tensor(name, DType.F32, shape, MemorySegment.ofArray(f))
                    : new Tensor(name, DType.BF16, shape, MemorySegment.ofArray(b));
        }

        private static MemorySegment littleEndian(short[] b) {
            MemorySegment seg = MemorySegment.ofArray(new byte[b.length * 2]);
            ValueLayout.OfShort l = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < b.length; i++) seg.setAtIndex(l, i, b[i]);
            return seg;
        }

        private static float[] widen(short[] b) {
            float[] out = new float[b.length];
            for (int i = 0; i < b.length; i++) out[i] = Tensor.bf16ToFloat(b[i]);
            return out;
        }
    }

    /** Elements per parallel chunk: large enough that small tensors (biases, norms) run inline. */
    private static final int GRAIN = 1 << 14;

    private final ParameterSet parameters;
    private final Options options;
    private final Map<String, State> states = new LinkedHashMap<>();

    public AdamW(ParameterSet parameters, Options options) {
        this.parameters = parameters;
        this.options = options;
    }

    public Options options() { return options; }

    public ParameterSet parameters() { return parameters; }

    /** The state of a parameter, or null before its first update. */
    public State state(String name) { return states.get(name); }

    /** Every parameter's state, in parameter order (only those updated at least once). */
    public Map<String, State> states() { return Collections.unmodifiableMap(states); }

    /** Bytes the moment buffers take once every parameter has a state. */
    public long stateBytes() {
        return parameters.numel() * (options.momentPrecision() == MomentPrecision.F32 ? 8L : 4L);
    }

    /** Does the parameter get weight decay? */
    public boolean decays(String name) {
        return options.weightDecay() != 0 && options.decayRule().test(name);
    }

    /** One optimizer step at learning rate {@code lr} over every parameter that has a gradient. */
    public void step(double lr) {
        for (Parameter p : parameters) {
            float[] g = p.grad();
            if (g == null) continue;
            State s = states.computeIfAbsent(p.name(), n -> new State(p.shape(), p.size(), options.momentPrecision()));
            s.step++;
            update(p.value(), g, s, lr, decays(p.name()) ? options.weightDecay() : 0.0);
        }
    }

    private void update(float[] p, float[] g, State s, double lr, double weightDecay) {
        double beta1 = options.beta1(), beta2 = options.beta2();
        // Python-double scalars, each cast to float where ATen's float32 kernel takes it.
        float decay = (float) (1 - lr * weightDecay);
        float b1 = (float) beta1, oneMinusB1 = (float) (1 - beta1);
        float b2 = (float) beta2, oneMinusB2 = (float) (1 - beta2);
        double bias1 = 1 - Math.pow(beta1, (double) s.step);
        double bias2 = 1 - Math.pow(beta2, (double) s.step);
        float bias2Sqrt = (float) Math.sqrt(bias2);
        float negStepSize = (float) -(lr / bias1);
        float eps = (float) options.eps();
        boolean applyDecay = decay != 1.0f; // torch multiplies by 1.0 too: an exact no-op

        if (s.expAvg != null) {
            float[] m = s.expAvg, v = s.expAvgSq;
            Parallel.forRange(p.length, GRAIN, (start, end) -> {
                for (int i = start; i < end; i++) {
                    float gi = g[i];
                    float pi = applyDecay ? p[i] * decay : p[i];
                    float mi = Math.fma(gi, oneMinusB1, m[i] * b1);
                    float vi = Math.fma(oneMinusB2 * gi, gi, v[i] * b2);
                    float denom = (float) Math.sqrt(vi) / bias2Sqrt + eps;
                    m[i] = mi;
                    v[i] = vi;
                    p[i] = pi + (negStepSize * mi) / denom;
                }
            });
        } else {
            short[] m = s.expAvgBf16, v = s.expAvgSqBf16;
            Parallel.forRange(p.length, GRAIN, (start, end) -> {
                // The same lane-wise IEEE operations as the scalar loop below (so the same bits), 8 at a time:
                // the conversions to and from bfloat16 do not vectorise on their own.
                int i = start;
                if (applyDecay) {
                    for (; i + BF16_LANES <= end; i += BF16_LANES) {
                        updateBf16Vector(p, g, m, v, i, true, decay, b1, oneMinusB1, b2, oneMinusB2, bias2Sqrt, eps, negStepSize);
                    }
                } else {
                    for (; i + BF16_LANES <= end; i += BF16_LANES) {
                        updateBf16Vector(p, g, m, v, i, false, decay, b1, oneMinusB1, b2, oneMinusB2, bias2Sqrt, eps, negStepSize);
                    }
                }
                for (; i < end; i++) {
                    float gi = g[i];
                    float pi = applyDecay ? p[i] * decay : p[i];
                    float mi = Math.fma(gi, oneMinusB1, Tensor.bf16ToFloat(m[i]) * b1);
                    float vi = Math.fma(oneMinusB2 * gi, gi, Tensor.bf16ToFloat(v[i]) * b2);
                    float denom = (float) Math.sqrt(vi) / bias2Sqrt + eps;
                    m[i] = Tensor.floatToBf16(mi);
                    v[i] = Tensor.floatToBf16(vi);
                    p[i] = pi + (negStepSize * mi) / denom;
                }
            });
        }
    }

    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Short> S8 = ShortVector.SPECIES_128;
    private static final int BF16_LANES = 8;

    private static void updateBf16Vector(float[] p, float[] g, short[] m, short[] v, int i, boolean applyDecay, float decay,
                                         float b1, float oneMinusB1, float b2, float oneMinusB2, float bias2Sqrt, float eps,
                                         float negStepSize) {
        FloatVector gi = FloatVector.fromArray(F8, g, i);
        FloatVector pi = FloatVector.fromArray(F8, p, i);
        if (applyDecay) pi = pi.mul(decay);
        FloatVector mi = gi.fma(FloatVector.broadcast(F8, oneMinusB1), widenBf16(ShortVector.fromArray(S8, m, i)).mul(b1));
        FloatVector vi = gi.mul(oneMinusB2).fma(gi, widenBf16(ShortVector.fromArray(S8, v, i)).mul(b2));
        FloatVector denom = vi.sqrt().div(bias2Sqrt).add(eps);
        roundToBf16(mi).intoArray(m, i);
        roundToBf16(vi).intoArray(v, i);
        pi.add(mi.mul(negStepSize).div(denom)).intoArray(p, i);
    }

    /** bfloat16 bits to float: the bits become the upper half of the float. */
    private static FloatVector widenBf16(ShortVector bits) {
        IntVector wide = (IntVector) bits.convertShape(VectorOperators.S2I, IntVector.SPECIES_256, 0);
        return wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** {@link Tensor#floatToBf16} lane-wise: round to nearest even, NaN kept quiet. */
    private static ShortVector roundToBf16(FloatVector f) {
        IntVector bits = f.reinterpretAsInts();
        IntVector upper = bits.lanewise(VectorOperators.LSHR, 16);
        IntVector rounded = bits.add(upper.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
        var nan = bits.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000);
        IntVector out = rounded.blend(upper.or(0x0040), nan);
        return (ShortVector) out.convertShape(VectorOperators.I2S, S8, 0);
    }

    /**
     * Restores one parameter's state from a checkpoint: the step count and the two moments (F32 or BF16 tensors;
     * converted to this optimizer's precision, exactly when the types agree).
     */
    public void restore(String name, long step, Tensor expAvg, Tensor expAvgSq) {
        Parameter p = parameters.get(name);
        if (p == null) {
            throw new IllegalArgumentException("optimizer state for '" + name + "', which is not a trained parameter of this run");
        }
        for (Tensor t : new Tensor[]{expAvg, expAvgSq}) {
            if (!Arrays.equals(t.shape(), p.shape())) {
                throw new IllegalArgumentException("optimizer state " + t.name() + " has shape " + Arrays.toString(t.shape())
                        + ", the parameter " + name + " has " + Arrays.toString(p.shape()));
            }
            if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
                throw new IllegalArgumentException("optimizer state " + t.name() + " is " + t.dtype() + ", expected F32 or BF16");
            }
        }
        if (step < 0) throw new IllegalArgumentException("optimizer step count for '" + name + "' is negative: " + step);
        State s = new State(p.shape(), p.size(), options.momentPrecision());
        s.step = step;
        if (s.expAvg != null) {
            copyFloats(expAvg, s.expAvg);
            copyFloats(expAvgSq, s.expAvgSq);
        } else {
            copyBf16(expAvg, s.expAvgBf16);
            copyBf16(expAvgSq, s.expAvgSqBf16);
        }
        states.put(name, s);
    }

    /** Forgets every parameter's state (a fresh optimizer). */
    public void reset() { states.clear(); }

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static void copyFloats(Tensor t, float[] dst) {
        if (t.dtype() == DType.F32) {
            MemorySegment.copy(t.data(), F32_LE, 0, dst, 0, dst.length);
        } else {
            for (int i = 0; i < dst.length; i++) dst[i] = t.getFloat(i);
        }
    }

    private static void copyBf16(Tensor t, short[] dst) {
        if (t.dtype() == DType.BF16) {
            MemorySegment.copy(t.data(), I16_LE, 0, dst, 0, dst.length);
        } else {
            for (int i = 0; i < dst.length; i++) dst[i] = Tensor.floatToBf16(t.getFloat(i));
        }
    }
}
