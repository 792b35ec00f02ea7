package io.instella.train.run;

import io.instella.train.data.Batch;
import io.instella.train.data.DataLoader;
import io.instella.train.model.TrainableModel;
import io.instella.train.params.Parameter;

/**
 * Where an optimizer step's gradients come from. {@link TrainingRun} asks for them once per step, then clips, applies
 * the optimizer and rebuilds the model itself; by default ({@link #local}) this process runs the forward and backward
 * passes of the step's micro-batches. Another implementation may have them computed elsewhere (data-parallel workers)
 * and only leave the combined gradient in the model's parameters.
 */
public interface StepGradients {
    /** What a step used: its micro-batches (0 = the data had ended), their mean loss and the tokens they held. */
    record StepTotals(int microBatches, double loss, long tokens) {}

    /** Micro-batches one optimizer step takes from the loader (an epoch's steps follow from it). */
    int microBatchesPerStep();

    /**
     * Takes the step's micro-batches from {@code batches} and leaves in the model's parameters' gradients the gradient
     * of the step's loss: the mean over the micro-batches of each one's mean loss (the HF Trainer's accumulation).
     *
     * @param byEpochs an epoch-based run: the data may end within the step (fewer micro-batches), else that is an error
     */
    StepTotals compute(TrainableModel model, DataLoader.BatchIterator batches, long step, boolean byEpochs);

    /** The LoRA dropout seed of a micro-batch: the same rule in every implementation, so runs and resumes agree. */
    static long dropoutSeed(long runSeed, long step, int microBatchesPerStep, int micro) {
        return runSeed * 1_000_003L + step * microBatchesPerStep + micro;
    }

    /** This process computes every micro-batch of the step, {@code settings.gradientAccumulation()} of them. */
    static StepGradients local(TrainingSettings settings) {
        return new StepGradients() {
            @Override
            public int microBatchesPerStep() {
                return settings.gradientAccumulation();
            }

            @Override
            public StepTotals compute(TrainableModel model, DataLoader.BatchIterator batches, long step, boolean byEpochs) {
                model.parameters().zeroGrad();
                double lossSum = 0;
                long tokens = 0;
                int micros = 0;
                for (int micro = 0; micro < settings.gradientAccumulation(); micro++) {
                    if (!batches.hasNext()) {
                        if (byEpochs) break; // the last step of the last epoch: fewer micro-batches
                        throw new IllegalStateException("the data ran out before step " + (step + 1) + " (every record skipped?)");
                    }
                    micros++;
                    Batch batch = batches.next();
                    model.setDropoutSeed(dropoutSeed(settings.seed(), step, settings.gradientAccumulation(), micro));
                    TrainableModel.StepResult r = model.forwardBackward(batch);
                    lossSum += r.loss();
                    for (TrainableModel.ExampleResult e : r.examples()) tokens += e.mergedLength();
                }
                if (micros > 1) {
                    // The HF Trainer divides each micro-batch's loss by the accumulation steps before backward.
                    float scale = 1f / micros;
                    for (Parameter p : model.parameters()) if (p.grad() != null) for (int i = 0; i < p.size(); i++) p.grad()[i] *= scale;
                }
                return new StepTotals(micros, micros == 0 ? Double.NaN : lossSum / micros, tokens);
            }
        };
    }
}
