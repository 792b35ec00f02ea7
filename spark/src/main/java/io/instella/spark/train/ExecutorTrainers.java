package io.instella.spark.train;

import io.instella.train.model.TrainableModel;
import io.instella.train.params.Parameter;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The trainable models of an executor JVM, kept for the JVM's life: the frozen weights stay memory-mapped (loaded once,
 * shared through the page cache by every instance), and before each step only the trained tensors are replaced by the
 * driver's current values. One instance per task that runs at the same time in the JVM (a task's gradients must not
 * mix with another's), reused by the following steps.
 */
final class ExecutorTrainers {
    /** A model and the version of the trained values it holds. */
    static final class Slot {
        final TrainableModel model;
        String valuesVersion;

        Slot(TrainableModel model) {
            this.model = model;
        }

        /** Brings in the driver's trained values of {@code version} (little-endian float32, parameter order), unless already there. */
        void load(String version, byte[] values) {
            if (version.equals(valuesVersion)) return;
            FloatBuffer floats = ByteBuffer.wrap(values).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            long expected = model.parameters().numel();
            if (floats.remaining() != expected) {
                throw new IllegalStateException("the driver sent " + floats.remaining() + " trained values, this executor's model has "
                        + expected + ": the model directory differs between the nodes");
            }
            for (Parameter p : model.parameters()) floats.get(p.value());
            model.rebuild();
            valuesVersion = version;
        }
    }

    private static final Map<TrainerSpec, Queue<Slot>> IDLE = new ConcurrentHashMap<>();
    private static final AtomicInteger CREATED = new AtomicInteger();

    private ExecutorTrainers() {
    }

    static Slot borrow(TrainerSpec spec) {
        Slot slot = IDLE.computeIfAbsent(spec, k -> new ConcurrentLinkedQueue<>()).poll();
        if (slot != null) return slot;
        CREATED.incrementAndGet();
        return new Slot(TrainableModel.open(Path.of(spec.modelDir()), spec.options()));
    }

    static void release(TrainerSpec spec, Slot slot) {
        IDLE.get(spec).add(slot);
    }

    /** Models this JVM has built (tests check they are reused across steps). */
    static int created() {
        return CREATED.get();
    }
}
