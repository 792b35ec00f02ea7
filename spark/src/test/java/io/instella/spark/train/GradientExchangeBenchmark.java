package io.instella.spark.train;

import io.instella.model.lora.LoraConfig;
import io.instella.train.model.TrainableModel;
import io.instella.train.model.TunableParts;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A benchmark, not a test: the time of one gradient exchange of {@link DataParallelGradients} (broadcast of the trained
 * values, every rank reading them and returning a gradient of the same size, treeAggregate of the ranks' gradients,
 * the driver's scaling), with the forward/backward left out, for the trained tensors of a real model: the projector
 * (stage 1) and a LoRA adapter of rank R on the language model's linear layers.
 *
 * <pre>
 * java $(spark JVM flags) -Xmx10g -cp CLASSPATH io.instella.spark.train.GradientExchangeBenchmark /tmp/ivl local[2] 64 2 [reps]
 * (local-cluster[2,1,3072] puts the two ranks in separate executor JVMs; -Dspark.serializer=... etc. set Spark options)
 * </pre>
 */
public final class GradientExchangeBenchmark {
    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        String master = args.length > 1 ? args[1] : "local[2]";
        int rank = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int workers = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int reps = args.length > 4 ? Integer.parseInt(args[4]) : 5;
        long projector, lora;
        try (TrainableModel m = TrainableModel.open(model, new TrainableModel.Options(TunableParts.parse("mm_mlp_adapter"), "square", "flat", 4096))) {
            projector = m.parameters().numel();
        }
        LoraConfig config = LoraConfig.of(rank, 2.0 * rank, 0.0, List.of(), List.of(), null);
        try (TrainableModel m = TrainableModel.open(model, new TrainableModel.Options(TunableParts.NONE, "square", "flat", 4096, config, 42))) {
            lora = m.parameters().numel();
        }
        SparkSession.Builder b = SparkSession.builder().master(master).appName("gradient exchange benchmark")
                .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.maxResultSize", "4g");
        if (master.startsWith("local-cluster")) {
            // Executors in their own JVMs (as in LocalCluster, with SPARK_TESTING instead of a SPARK_HOME), with room for the values, a copy and the gradients.
            b.config("spark.executor.extraClassPath", System.getProperty("java.class.path"))
                    .config("spark.executorEnv.SPARK_SCALA_VERSION", "2.13").config("spark.executorEnv.SPARK_TESTING", "1")
                    .config("spark.executor.memory", System.getProperty("bench.executorMemory", "2g"));
        }
        SparkSession spark = b.getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        try {
            report(sc, "projector (stage 1)", projector, workers, reps);
            report(sc, "LoRA r=" + rank + " on the LM's linear layers", lora, workers, reps);
        } finally {
            spark.stop();
        }
    }

    private static void report(JavaSparkContext sc, String what, long numel, int workers, int reps) {
        byte[] values = new byte[(int) numel * 4]; // what DataParallelGradients.flatValues broadcasts
        Arrays.fill(values, (byte) 1);
        double[] ms = new double[reps], cpu = new double[reps];
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        for (int i = -2; i < reps; i++) { // two warm-up exchanges
            long t0 = System.nanoTime(), c0 = os.getProcessCpuTime();
            exchange(sc, values, workers);
            if (i >= 0) {
                ms[i] = (System.nanoTime() - t0) / 1e6;
                cpu[i] = (os.getProcessCpuTime() - c0) / 1e6;
            }
        }
        Arrays.sort(ms);
        Arrays.sort(cpu);
        // CPU time of this JVM (driver and, in local mode, the executors): what the exchange costs on a machine
        // that is not shared; wall time on a loaded machine is mostly waiting for a core.
        System.out.printf(Locale.ROOT, "%s: %,d trained values (%.1f MB f32), %d ranks on %s: exchange wall median %.0f ms (min %.0f, max %.0f),"
                        + " CPU of this JVM median %.0f ms (min %.0f); load average %.1f%n",
                what, numel, numel * 4 / 1e6, workers, sc.master(), ms[ms.length / 2], ms[0], ms[ms.length - 1],
                cpu[cpu.length / 2], cpu[0], os.getSystemLoadAverage());
    }

    /** One step's exchange with the forward/backward left out: what {@link DataParallelGradients#compute} moves. */
    private static float[] exchange(JavaSparkContext sc, byte[] values, int workers) {
        Broadcast<byte[]> bc = sc.broadcast(values);
        List<Integer> ranks = new ArrayList<>();
        for (int r = 0; r < workers; r++) ranks.add(r);
        try {
            byte[] encoded = sc.parallelize(ranks, workers).map(r -> {
                byte[] v = bc.value();
                float[] local = new float[v.length / 4];     // the swap into the executor's parameters
                java.nio.ByteBuffer.wrap(v).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(local);
                float[] grads = new float[local.length];
                for (int i = 0; i < grads.length; i += 4096) grads[i] = local[i] * r;
                return new DataParallelGradients.GradientSum(grads, new boolean[] {true}, 1.0, 1, 1).encode();
            }).treeAggregate(DataParallelGradients.GradientSum.NOTHING, DataParallelGradients.GradientSum::add,
                    DataParallelGradients.GradientSum::add, 2);
            DataParallelGradients.GradientSum sum = DataParallelGradients.GradientSum.decode(encoded);
            float[] g = sum.grads();
            float scale = 1f / sum.microBatches();
            for (int i = 0; i < g.length; i++) g[i] *= scale;
            return g;
        } finally {
            bc.destroy();
        }
    }
}
