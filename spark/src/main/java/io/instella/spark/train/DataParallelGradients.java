package io.instella.spark.train;

import io.instella.train.data.DataLoader;
import io.instella.train.model.TrainableModel;
import io.instella.train.params.Parameter;
import io.instella.train.run.StepGradients;
import io.instella.train.run.TrainingSettings;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.broadcast.Broadcast;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Synchronous data-parallel steps on Spark with PyTorch DDP's semantics. Per optimizer step the driver's data loader
 * gives the global batch, {@code workers × accumulation} micro-batches; micro-batch {@code k} of the step goes to rank
 * {@code k mod workers} (as DistributedSampler deals records: rank r takes r, r+W, ...). The driver broadcasts its
 * current trained values; each rank (one Spark task) swaps them into its executor's model, runs forward and backward on
 * its micro-batches and returns the sum of their gradients; {@code treeAggregate} adds the ranks' sums and the driver
 * divides by the number of micro-batches. That is the mean over ranks of each rank's accumulated mean (DDP's
 * all-reduce average with HF accumulation), and also exactly what one process computes with accumulation
 * {@code workers × accumulation} over the same micro-batches. Clipping and the optimizer step then run once, on the
 * driver ({@link io.instella.train.run.TrainingRun}), which also writes the checkpoints.
 */
public final class DataParallelGradients implements StepGradients {
    private final JavaSparkContext spark;
    private final TrainerSpec spec;
    private final int workers;
    private final int accumulation;
    private final long seed;
    /** Versions of the trained values: unique across runs, since executors keep their models from run to run. */
    private final String runId = java.util.UUID.randomUUID().toString();
    private long steps;

    public DataParallelGradients(JavaSparkContext spark, TrainingSettings settings, int workers) {
        if (workers < 1) throw new IllegalArgumentException("--workers must be at least 1");
        this.spark = spark;
        this.spec = TrainerSpec.of(settings);
        this.workers = workers;
        this.accumulation = settings.gradientAccumulation();
        this.seed = settings.seed();
    }

    public int workers() {
        return workers;
    }

    @Override
    public int microBatchesPerStep() {
        return workers * accumulation;
    }

    /** One rank's share of a step: its micro-batches and their dropout seeds. */
    record RankWork(int rank, List<ShippedBatch> batches, long[] dropoutSeeds) implements Serializable {}

    /**
     * A sum of gradients over micro-batches: every trained tensor flat in parameter order, whether any micro-batch
     * reached it (a tensor no micro-batch reached keeps no gradient, as PyTorch's None), the loss and token sums.
     * It travels as bytes ({@link #encode}); an empty array is the sum of nothing.
     */
    record GradientSum(float[] grads, boolean[] reached, double lossSum, long tokens, int microBatches) {
        static final byte[] NOTHING = new byte[0];

        GradientSum plus(GradientSum o) {
            float[] g = grads.clone();
            for (int i = 0; i < g.length; i++) g[i] += o.grads[i];
            boolean[] r = reached.clone();
            for (int i = 0; i < r.length; i++) r[i] |= o.reached[i];
            return new GradientSum(g, r, lossSum + o.lossSum, tokens + o.tokens, microBatches + o.microBatches);
        }

        /** The sum of two encoded sums (either may be {@link #NOTHING}): what treeAggregate combines. */
        static byte[] add(byte[] a, byte[] b) {
            if (a.length == 0) return b;
            if (b.length == 0) return a;
            return decode(a).plus(decode(b)).encode();
        }

        byte[] encode() {
            ByteBuffer buf = ByteBuffer.allocate(4 + 8 + 8 + 4 + 4 + reached.length + 4 * grads.length).order(ByteOrder.LITTLE_ENDIAN);
            buf.putInt(microBatches).putLong(tokens).putDouble(lossSum).putInt(reached.length).putInt(grads.length);
            for (boolean r : reached) buf.put((byte) (r ? 1 : 0));
            buf.asFloatBuffer().put(grads);
            return buf.array();
        }

        static GradientSum decode(byte[] bytes) {
            ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            int micros = buf.getInt();
            long tokens = buf.getLong();
            double loss = buf.getDouble();
            boolean[] reached = new boolean[buf.getInt()];
            float[] grads = new float[buf.getInt()];
            for (int i = 0; i < reached.length; i++) reached[i] = buf.get() != 0;
            buf.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(grads);
            return new GradientSum(grads, reached, loss, tokens, micros);
        }
    }

    @Override
    public StepTotals compute(TrainableModel model, DataLoader.BatchIterator batches, long step, boolean byEpochs) {
        List<List<ShippedBatch>> perRank = new ArrayList<>();
        List<List<Long>> seeds = new ArrayList<>();
        for (int r = 0; r < workers; r++) {
            perRank.add(new ArrayList<>());
            seeds.add(new ArrayList<>());
        }
        int micros = 0;
        for (int k = 0; k < microBatchesPerStep(); k++) {
            if (!batches.hasNext()) {
                if (byEpochs) break; // the last step of the last epoch: fewer micro-batches (some ranks idle)
                throw new IllegalStateException("the data ran out before step " + (step + 1) + " (every record skipped?)");
            }
            perRank.get(k % workers).add(ShippedBatch.of(batches.next()));
            seeds.get(k % workers).add(StepGradients.dropoutSeed(seed, step, microBatchesPerStep(), k));
            micros++;
        }
        model.parameters().zeroGrad();
        if (micros == 0) return new StepTotals(0, Double.NaN, 0);
        List<RankWork> work = new ArrayList<>();
        for (int r = 0; r < workers; r++) {
            if (perRank.get(r).isEmpty()) continue;
            work.add(new RankWork(r, perRank.get(r), seeds.get(r).stream().mapToLong(Long::longValue).toArray()));
        }
        Broadcast<byte[]> values = spark.broadcast(flatValues(model));
        String thisVersion = runId + "/" + (++steps);
        byte[] encoded;
        try {
            spark.setJobDescription("train step " + (step + 1) + ": " + micros + " micro-batches on " + work.size() + " ranks");
            List<byte[]> shipped = work.stream().map(Payloads::toBytes).toList();
            encoded = spark.parallelize(shipped, shipped.size())
                    .map(new RankStep(spec, values, thisVersion))
                    .treeAggregate(GradientSum.NOTHING, GradientSum::add, GradientSum::add, 2);
        } finally {
            values.destroy();
        }
        if (encoded.length == 0) throw new IllegalStateException("step " + (step + 1) + ": no gradients came back");
        GradientSum sum = GradientSum.decode(encoded);
        if (sum.microBatches() != micros) {
            throw new IllegalStateException("step " + (step + 1) + ": " + sum.microBatches() + " of " + micros + " micro-batches came back");
        }
        float scale = 1f / micros;
        int offset = 0, index = 0;
        for (Parameter p : model.parameters()) {
            if (sum.reached()[index++]) {
                float[] g = p.gradForAccumulation();
                for (int i = 0; i < g.length; i++) g[i] = micros > 1 ? sum.grads()[offset + i] * scale : sum.grads()[offset + i];
            }
            offset += p.size();
        }
        return new StepTotals(micros, sum.lossSum() / micros, sum.tokens());
    }

    /** The trained values, flat in parameter order, as little-endian float32 bytes (a bulk copy to serialize). */
    static byte[] flatValues(TrainableModel model) {
        long n = model.parameters().numel();
        if (n > (Integer.MAX_VALUE - 64) / 4) {
            throw new IllegalStateException(n + " trained values are more than one step's exchange can carry (2^29): train fewer parts");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) n * 4).order(ByteOrder.LITTLE_ENDIAN);
        FloatBuffer floats = buf.asFloatBuffer();
        for (Parameter p : model.parameters()) floats.put(p.value());
        return buf.array();
    }

    /** What one rank runs on its executor. */
    record RankStep(TrainerSpec spec, Broadcast<byte[]> values, String version) implements Function<byte[], byte[]> {
        @Override
        public byte[] call(byte[] shipped) {
            RankWork work = Payloads.fromBytes(shipped);
            ExecutorTrainers.Slot slot = ExecutorTrainers.borrow(spec);
            boolean ok = false;
            try {
                slot.load(version, values.value());
                TrainableModel model = slot.model;
                model.parameters().zeroGrad();
                double lossSum = 0;
                long tokens = 0;
                for (int i = 0; i < work.batches().size(); i++) {
                    model.setDropoutSeed(work.dropoutSeeds()[i]);
                    TrainableModel.StepResult r = model.forwardBackward(work.batches().get(i).toBatch());
                    lossSum += r.loss();
                    for (TrainableModel.ExampleResult e : r.examples()) tokens += e.mergedLength();
                }
                float[] grads = new float[(int) model.parameters().numel()];
                boolean[] reached = new boolean[model.parameters().size()];
                int offset = 0, index = 0;
                for (Parameter p : model.parameters()) {
                    if (p.grad() != null) {
                        System.arraycopy(p.grad(), 0, grads, offset, p.size());
                        reached[index] = true;
                    }
                    offset += p.size();
                    index++;
                }
                model.parameters().zeroGrad();
                ok = true;
                return new GradientSum(grads, reached, lossSum, tokens, work.batches().size()).encode();
            } finally {
                if (ok) ExecutorTrainers.release(spec, slot);
                else slot.model.close(); // a failed pass may leave half a gradient: build a fresh model next time
            }
        }
    }
}
