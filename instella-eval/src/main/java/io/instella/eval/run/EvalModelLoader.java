package io.instella.eval.run;

/** Opens the model named by {@code --model} (a checkpoint directory or hub id). */
@FunctionalInterface
public interface EvalModelLoader {
    EvalModel load(String model) throws Exception;
}
