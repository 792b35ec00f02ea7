package io.instella.spark.eval;

import io.instella.eval.run.InstellaEvalModel;
import io.instella.model.source.ModelSource;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The evaluation model of each executor JVM: the engine {@code instella eval} uses ({@link InstellaEvalModel}, the
 * lmms-eval adapter's prompt and decoding), loaded once per JVM and model name (weights memory-mapped) and shared by
 * every task the JVM runs. A model answers one document at a time: tasks of one JVM take turns on it, each
 * generation already using every core the JVM has.
 */
final class EvalExecutorModels {
    private static final Map<String, InstellaEvalModel> LOADED = new ConcurrentHashMap<>();

    private EvalExecutorModels() {
    }

    /** The model named {@code model} (a directory, or a hub id resolved through this node's Hugging Face cache). */
    static InstellaEvalModel get(String model) {
        return LOADED.computeIfAbsent(model, m -> InstellaEvalModel.open(ModelSource.parse(m).resolve(ModelSource.Need.MODEL, null)));
    }

    static int loadedCount() {
        return LOADED.size();
    }
}
