package io.instella.train.optim;

import java.util.Locale;

/**
 * The Hugging Face learning-rate schedules ({@code transformers.get_scheduler}, a {@code LambdaLR} whose value
 * is {@code base_lr * lambda(step)}), computed in double exactly as the Python code does. {@link #lr(long)}
 * takes the 0-based training step: the value is the learning rate that step's optimizer update uses (the
 * Trainer calls {@code scheduler.step()} after every {@code optimizer.step()}, so step 0 uses lambda(0)).
 * <ul>
 *   <li>{@code cosine}: linear warm-up {@code s / max(1, warmup)}, then
 *       {@code max(0, 0.5 (1 + cos(pi * 0.5 * 2 * progress)))}, {@code progress = (s - warmup) / max(1, total - warmup)}
 *       ({@code get_cosine_schedule_with_warmup}, num_cycles 0.5)</li>
 *   <li>{@code linear}: warm-up, then {@code max(0, (total - s) / max(1, total - warmup))}</li>
 *   <li>{@code constant}: {@code base}</li>
 *   <li>{@code constant_with_warmup}: warm-up, then {@code base}</li>
 * </ul>
 */
public record LrSchedule(Type type, double baseLr, long totalSteps, long warmupSteps) {

    public enum Type {
        COSINE("cosine"), LINEAR("linear"), CONSTANT("constant"), CONSTANT_WITH_WARMUP("constant_with_warmup");

        private final String hfName;

        Type(String hfName) { this.hfName = hfName; }

        /** The name as {@code --lr_scheduler_type} spells it. */
        public String hfName() { return hfName; }

        public static Type parse(String name) {
            String n = name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
            for (Type t : values()) if (t.hfName.equals(n)) return t;
            throw new IllegalArgumentException("unknown learning-rate schedule '" + name
                    + "' (choose cosine, linear, constant or constant_with_warmup)");
        }
    }

    public LrSchedule {
        if (type == null) throw new IllegalArgumentException("no learning-rate schedule type");
        if (!(baseLr >= 0) || Double.isInfinite(baseLr)) throw new IllegalArgumentException("learning rate must be a finite number >= 0, got " + baseLr);
        if (totalSteps < 0) throw new IllegalArgumentException("total training steps must be >= 0, got " + totalSteps);
        if (warmupSteps < 0) throw new IllegalArgumentException("warm-up steps must be >= 0, got " + warmupSteps);
    }

    /** A schedule by its HF name, with the warm-up from {@link #warmupSteps(long, double, long)}. */
    public static LrSchedule of(String type, double baseLr, long totalSteps, double warmupRatio, long warmupSteps) {
        return new LrSchedule(Type.parse(type), baseLr, totalSteps, warmupSteps(totalSteps, warmupRatio, warmupSteps));
    }

    /**
     * {@code TrainingArguments.get_warmup_steps}: the explicit warm-up steps when &gt; 0, else
     * {@code ceil(total * ratio)}.
     */
    public static long warmupSteps(long totalSteps, double warmupRatio, long warmupSteps) {
        if (warmupSteps > 0) return warmupSteps;
        if (!(warmupRatio >= 0 && warmupRatio <= 1)) {
            throw new IllegalArgumentException("warm-up ratio must be in [0, 1], got " + warmupRatio);
        }
        return (long) Math.ceil(totalSteps * warmupRatio);
    }

    /** The learning rate used by the optimizer update of 0-based training step {@code step}. */
    public double lr(long step) {
        return baseLr * multiplier(step);
    }

    /** The schedule's lambda at {@code step} (the factor applied to the base learning rate). */
    public double multiplier(long step) {
        return switch (type) {
            case CONSTANT -> 1;
            case CONSTANT_WITH_WARMUP -> step < warmupSteps ? (double) step / (double) Math.max(1, warmupSteps) : 1.0;
            case LINEAR -> step < warmupSteps ? (double) step / (double) Math.max(1, warmupSteps)
                    : Math.max(0.0, (double) (totalSteps - step) / (double) Math.max(1, totalSteps - warmupSteps));
            case COSINE -> {
                if (step < warmupSteps) yield (double) step / (double) Math.max(1, warmupSteps);
                double progress = (double) (step - warmupSteps) / (double) Math.max(1, totalSteps - warmupSteps);
                yield Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress)));
            }
        };
    }
}
