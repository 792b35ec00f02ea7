package io.instella.bench;

import io.instella.core.kernels.Attention;
import io.instella.core.kernels.Packing;
import io.instella.core.kernels.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Decode attention of one token over a head-major KV cache of the language model's shape (16 layers, 16 heads
 * of 128) at a given depth, F32 or F16: one call per layer over all heads, as the model runs it. The caches
 * (151 MB in F32 at 576 positions) exceed the last-level cache, as in a real decode step.
 * {@code -jvmArgsAppend -Dinstella.kernels=java} times the Java kernel instead of the native one.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class DecodeAttentionBench {
    private static final int LAYERS = 16, HEADS = 16, HD = 128;

    @Param({"f32", "f16"})
    public String cache;

    @Param({"576"})
    public int positions;

    @Param({"0"})
    public int threads;

    private float[][] k32, v32;
    private short[][] k16, v16;
    private float[] q, out;

    @Setup
    public void setUp() {
        if (threads > 0) Parallel.setThreads(threads);
        SplittableRandom r = new SplittableRandom(7);
        int size = HEADS * positions * HD;
        k32 = new float[LAYERS][];
        v32 = new float[LAYERS][];
        k16 = new short[LAYERS][];
        v16 = new short[LAYERS][];
        for (int l = 0; l < LAYERS; l++) {
            float[] k = new float[size], v = new float[size];
            for (int i = 0; i < size; i++) {
                k[i] = (float) r.nextGaussian();
                v[i] = (float) r.nextGaussian();
            }
            if (cache.equals("f32")) {
                k32[l] = k;
                v32[l] = v;
            } else {
                k16[l] = new short[size];
                v16[l] = new short[size];
                Packing.narrowF16(k, 0, k16[l], 0, size);
                Packing.narrowF16(v, 0, v16[l], 0, size);
            }
        }
        q = new float[HEADS * HD];
        out = new float[HEADS * HD];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
    }

    @Benchmark
    public float token() {
        float scale = (float) (1 / Math.sqrt(HD));
        int stride = positions * HD;
        for (int l = 0; l < LAYERS; l++) {
            final int layer = l;
            Parallel.forRange(HEADS, 1, (h0, h1) -> {
                for (int h = h0; h < h1; h++) {
                    if (k32[layer] != null) {
                        Attention.attendHead(q, h * HD, k32[layer], v32[layer], h * stride, positions, HD, scale, out, h * HD);
                    } else {
                        Attention.attendHead(q, h * HD, k16[layer], v16[layer], h * stride, positions, HD, scale, out, h * HD);
                    }
                }
            });
        }
        return out[0];
    }
}
