package io.instella.spark;

import io.instella.api.InstellaModel;
import io.instella.api.LoadOptions;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One loaded model per executor JVM and model setting, shared by every task that JVM runs.
 *
 * <p>Spark runs several tasks of a stage in one executor JVM (one per core it was given). Loading the model
 * in each task would map the weights once per task and pay the load time again for every partition; here the
 * first task of a JVM loads it and the others reuse it. The weights are memory-mapped, so even the one copy
 * lives in the page cache, shared with any other process on the node that maps the same files.
 *
 * <p>The key is everything that changes the loaded weights or caches: the model (a local directory, a path on a
 * shared filesystem, or a Hugging Face repo id resolved through the node's Hub cache, downloaded once under the
 * hub client's file lock), the quantization, the KV cache type, the context length and the LoRA adapter.
 * Models stay loaded until the JVM exits (an executor's life): a job uses one model, and unloading under a
 * running task would be wrong.
 */
public final class ExecutorModels {

    /** What identifies a loaded model inside one JVM. */
    public record Key(String model, String quantization, String kvCache, Integer contextLength, String lora) {
        public Key {
            Objects.requireNonNull(model, "model");
        }

        /** The model as named, with the weights as stored and the model's own context length. */
        public static Key of(String model) {
            return new Key(model, null, null, null, null);
        }

        LoadOptions loadOptions() {
            return new LoadOptions(null, contextLength, quantization, kvCache,
                    lora == null ? null : java.nio.file.Path.of(lora));
        }
    }

    private static final Map<Key, InstellaModel> LOADED = new ConcurrentHashMap<>();

    private ExecutorModels() {
    }

    /**
     * The model for {@code key}, loaded by the first caller in this JVM; callers racing for the same key wait
     * for that one load.
     *
     * @throws io.instella.api.InstellaApiException when the model cannot be found, downloaded or read
     */
    public static InstellaModel get(Key key) {
        return LOADED.computeIfAbsent(key, k -> InstellaModel.load(k.model(), k.loadOptions()));
    }

    /** How many distinct models this JVM holds (tests check that tasks share one). */
    public static int loadedCount() {
        return LOADED.size();
    }
}
