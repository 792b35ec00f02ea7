/**
 * Training checkpoints in the Hugging Face Trainer's layout, written atomically and read back for a bit-identical
 * resume ({@link io.instella.train.checkpoint.CheckpointManager}, {@link io.instella.train.checkpoint.SaveRequest},
 * {@link io.instella.train.checkpoint.TrainingCheckpoint}), the final model directory
 * ({@link io.instella.train.checkpoint.FinalModelWriter}) and the loss/lr picture ({@link io.instella.train.checkpoint.LossCurve}).
 */
package io.instella.train.checkpoint;
