package io.instella.train.data;

import java.nio.file.Path;

/**
 * The data settings of a run, as the {@code instella train} flags give them. Start from {@link #of(Path)} and
 * change what the flags set with the {@code with...} methods.
 *
 * @param data             {@code --data}: .json, .jsonl, .parquet (or a folder of shards), or a .yaml mixture
 * @param imageFolder      {@code --image-folder}: where relative image paths are resolved (null: current directory)
 * @param imageAspectRatio {@code --image-aspect-ratio} (square, anyres, anyres_max_N, pad); null = the model's
 * @param mergeType        {@code --mm-patch-merge-type} (flat, spatial_unpad); null = the model's
 * @param modelMaxLength   {@code --model-max-length}
 * @param truncate         keep records longer than modelMaxLength and truncate them as upstream does, instead of
 *                         skipping them
 * @param strict           {@code --strict-data}: the first unusable record stops the run
 * @param seed             {@code --seed}: random:N sampling, choose/repeat draws, the epoch shuffle
 * @param batchSize        {@code --per-device-train-batch-size}
 * @param dropLast         {@code --dataloader-drop-last}
 * @param shuffle          shuffle each epoch (upstream always does)
 * @param threads          background threads that decode and preprocess
 * @param prefetch         records built ahead of the trainer (bounds memory; at least two batches are)
 */
public record DataOptions(Path data, Path imageFolder, String imageAspectRatio, String mergeType, int modelMaxLength,
                          boolean truncate, boolean strict, long seed, int batchSize, boolean dropLast,
                          boolean shuffle, int threads, int prefetch) {

    /** Defaults: the model's image settings, model_max_length 32768, skip long records, seed 42, batch 1, shuffle. */
    public static DataOptions of(Path data) {
        int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
        return new DataOptions(data, null, null, null, 32768, false, false, 42, 1, false, true, threads, 16);
    }

    /** The same settings for another data file (e.g. the eval set). */
    public DataOptions withData(Path other) {
        return new DataOptions(other, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed, batchSize,
                dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withImageFolder(Path folder) {
        return new DataOptions(data, folder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withImageAspectRatio(String mode) {
        return new DataOptions(data, imageFolder, mode, mergeType, modelMaxLength, truncate, strict, seed,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withMergeType(String merge) {
        return new DataOptions(data, imageFolder, imageAspectRatio, merge, modelMaxLength, truncate, strict, seed,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withModelMaxLength(int length) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, length, truncate, strict, seed,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withTruncate(boolean t) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, t, strict, seed,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withStrict(boolean s) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, s, seed,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withSeed(long s) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, s,
                batchSize, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withBatchSize(int b) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed,
                b, dropLast, shuffle, threads, prefetch);
    }

    public DataOptions withDropLast(boolean d) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed,
                batchSize, d, shuffle, threads, prefetch);
    }

    public DataOptions withShuffle(boolean s) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed,
                batchSize, dropLast, s, threads, prefetch);
    }

    public DataOptions withThreads(int t) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed,
                batchSize, dropLast, shuffle, t, prefetch);
    }

    public DataOptions withPrefetch(int p) {
        return new DataOptions(data, imageFolder, imageAspectRatio, mergeType, modelMaxLength, truncate, strict, seed,
                batchSize, dropLast, shuffle, threads, p);
    }
}
