package io.instella.bench;

import io.instella.core.kernels.BlockedAttention;
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
 * Blocked attention: one CLIP tile (577 tokens, 16 heads of 64, bidirectional) and one long causal
 * prompt of the language model (16 heads of 128); flops = 4·heads·hd·(queries·keys, halved when causal).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class AttentionBench {
    @Param({"vit-tile", "lm-2048"})
    public String shape;

    @Param({"0"})
    public int threads;

    private float[] q, k, v, out;
    private int n, heads, hd;
    private boolean causal;

    @Setup
    public void setUp() {
        if (threads > 0) Parallel.setThreads(threads);
        switch (shape) {
            case "vit-tile" -> { n = 577; heads = 16; hd = 64; causal = false; }
            case "lm-2048" -> { n = 2048; heads = 16; hd = 128; causal = true; }
            default -> throw new IllegalArgumentException(shape);
        }
        SplittableRandom r = new SplittableRandom(1);
        int w = heads * hd;
        q = new float[n * w];
        k = new float[n * w];
        v = new float[n * w];
        out = new float[n * w];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) r.nextGaussian();
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
    }

    @Benchmark
    public float attention() {
        int w = heads * hd;
        BlockedAttention.attention(q, 0, w, k, v, 0, w, n, n, 0, causal, heads, heads, hd, (float) (1 / Math.sqrt(hd)), out, 0, w);
        return out[0];
    }
}
