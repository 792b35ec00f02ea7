/**
 * Training data exactly as upstream InstellaVL's trainer feeds the model (golden README steps 1-6, spec §7.3-7.4).
 *
 * <ul>
 *   <li>{@link io.instella.train.data.TrainingData#open(java.nio.file.Path, io.instella.train.data.DataOptions)}:
 *       the entry point. Records from {@code .json}/{@code .jsonl}/parquet or a YAML mixture
 *       ({@link io.instella.train.data.DataMixture}), read lazily;</li>
 *   <li>{@link io.instella.train.data.ExampleBuilder}: a record to a {@link io.instella.train.data.TrainingExample}
 *       (conversation string, ids with -200 placeholders, labels, preprocessed images, merged length) or a
 *       skip with a reason;</li>
 *   <li>{@link io.instella.train.data.Collator}: examples to a padded {@link io.instella.train.data.Batch};</li>
 *   <li>{@link io.instella.train.data.DataLoader}: deterministic, prefetching, resumable
 *       ({@link io.instella.train.data.LoaderPosition}) micro-batches;</li>
 *   <li>{@link io.instella.train.data.DataReport}: the skipped records, for the log and trainer_state.json;
 *       {@link io.instella.train.data.DataException}: what stops a run, in words for the user.</li>
 * </ul>
 */
package io.instella.train.data;
