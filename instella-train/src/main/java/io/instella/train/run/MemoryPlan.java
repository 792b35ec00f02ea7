package io.instella.train.run;

import io.instella.model.InstellaException;
import io.instella.model.config.InstellaConfig;
import io.instella.train.model.TrainableModel;
import io.instella.train.optim.AdamW;

import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * The memory a run needs, estimated before the first step: trained tensors (float32 master + gradient + AdamW's two
 * moments), the activations of one sequence (each layer's checkpointed input, one layer's recomputed inside, the
 * head's logits block and transposed table), and the memory-mapped frozen weights. A run whose heap part cannot fit
 * stops here with the numbers and what to change, instead of an OutOfMemoryError hours later.
 */
final class MemoryPlan {
    private MemoryPlan() {}

    /** Sequence length the activation estimate assumes: the longest anyres image question fits in it. */
    static final int TYPICAL_ROWS = 3072;

    static void check(TrainableModel model, TrainingSettings s, PrintWriter err) {
        InstellaConfig c = model.config();
        var t = c.text();
        long trained = model.parameters().numel();
        int momentBytes = s.momentPrecision() == AdamW.MomentPrecision.BF16 ? 4 : 8;
        long state = trained * (4 + 4 + momentBytes);
        long rows = Math.min(s.dataOptions().modelMaxLength(), TYPICAL_ROWS);
        long h = t.hiddenSize(), inter = t.intermediateSize(), kv = t.kvDim();
        long lm = 4 * rows * (h * t.numLayers() + h * 9 + kv * 4 + inter * 5) + 4L * 128 * t.vocabSize() + 2L * t.vocabSize() * h
                + 4L * inter * h; // one transposed weight at a time
        long vision = 0;
        boolean visionTrained = model.parameters().all().stream().anyMatch(p -> p.name().contains("vision_tower"));
        if (c.hasVision() && visionTrained) {
            var v = c.multimodal().vision();
            long vrows = 5L * (v.numPatches() + 1);
            vision = 4 * vrows * (v.hiddenSize() * (v.numLayers() + 9) + v.intermediateSize() * 3);
        }
        long heapNeed = state + lm + vision;
        long heapMax = Runtime.getRuntime().maxMemory();
        long mapped = model.base().totalBytes();
        long physical = physicalMemory();
        err.printf(Locale.ROOT, "train: memory estimate: %s trained tensors (%,d parameters × %d bytes: master, gradient, AdamW moments)"
                        + " + %s activations (%d rows) = %s of heap (limit %s); %s of frozen weights memory-mapped; machine %s%n",
                gb(state), trained, 8 + momentBytes, gb(lm + vision), rows, gb(heapNeed), gb(heapMax), gb(mapped), gb(physical));
        err.flush();
        if (heapNeed > heapMax) {
            throw new InstellaException(String.format(Locale.ROOT,
                    "this run needs about %s of Java heap (%s for %,d trained parameters at %d bytes each, %s for activations),"
                            + " but the heap limit is %s. Train fewer parameters (LoRA: --lora-r 64; stage 1: --mm-tunable-parts"
                            + " mm_mlp_adapter), use --optim-state bf16 (12 instead of 16 bytes per parameter), lower"
                            + " --model-max-length, or raise the heap (INSTELLA_JAVA_OPTS=-Xmx... for the instella launcher,"
                            + " up to the machine's %s)",
                    gb(heapNeed), gb(state), trained, 8 + momentBytes, gb(lm + vision), gb(heapMax), gb(physical)));
        }
        if (physical > 0 && heapNeed + mapped > physical) {
            err.printf(Locale.ROOT, "train: warning: heap (%s) and mapped weights (%s) exceed the machine's memory (%s):"
                    + " expect paging%n", gb(heapNeed), gb(mapped), gb(physical));
            err.flush();
        }
    }

    static long physicalMemory() {
        try {
            return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    static String gb(long bytes) {
        return bytes < 0 ? "?" : String.format(Locale.ROOT, "%.2f GB", bytes / 1e9);
    }
}
