package io.instella.bench;

import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.Parallel;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * {@code MatMul.linear} on one OLMo-1B-shaped projection per weight type: rows = 1 is the decode GEMV
 * (memory-bound: compare weight bytes / time with the machine's read bandwidth), rows = 512 the prefill
 * GEMM (compute-bound: 2·rows·m·k flops / time against the FMA peak). Several matrices are cycled so that
 * decode reads its weights from DRAM, not from the last-level cache.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatMulBench {
    /** q4_0_r8, q8_0_r8: repacked with rows interleaved by 8, as the language model loads them where the native kernels run. */
    @Param({"bf16", "q8_0", "q4_0", "q4_0_r8", "q8_0_r8"})
    public String weights;

    @Param({"1", "512"})
    public int rows;

    /** 8192 × 2048 is the MLP up/gate projection of OLMo-1B. */
    @Param({"8192"})
    public int m;

    @Param({"2048"})
    public int k;

    @Param({"0"})
    public int threads;

    private Arena arena;
    private Tensor[] matrices;
    private float[] x, out;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        if (threads > 0) Parallel.setThreads(threads);
        arena = Arena.ofShared();
        SplittableRandom r = new SplittableRandom(42);
        float[] w = new float[m * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.02);
        MemorySegment bf = SafeTensorsWriter.toBf16(w);
        // Enough copies to exceed a 32 MiB last-level cache for the decode case.
        int copies = rows <= 4 ? Math.max(2, (int) (256L * 1024 * 1024 / bf.byteSize())) : 1;
        matrices = new Tensor[copies];
        for (int c = 0; c < copies; c++) {
            MemorySegment seg = arena.allocate(bf.byteSize(), 64);
            seg.copyFrom(bf);
            Tensor t = new Tensor("w", DType.BF16, new long[]{m, k}, seg);
            matrices[c] = switch (weights) {
                case "bf16" -> t;
                case "q8_0" -> Quant.quantize(t, DType.Q8_0, arena);
                case "q4_0" -> Quant.quantize(t, DType.Q4_0, arena);
                case "q4_0_r8" -> Quant.repackR8(Quant.quantize(t, DType.Q4_0, arena), arena);
                case "q8_0_r8" -> Quant.repackR8(Quant.quantize(t, DType.Q8_0, arena), arena);
                default -> throw new IllegalArgumentException(weights);
            };
        }
        x = new float[rows * k];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        out = new float[rows * m];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float linear() {
        Tensor w = matrices[next];
        next = (next + 1) % matrices.length;
        MatMul.linear(x, rows, w, null, out);
        return out[0];
    }
}
