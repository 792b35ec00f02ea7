package io.instella.bench;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
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

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/** The llama.cpp-exact block quantizers on one 2048-value row (what load-time and ahead-of-time quantization run). */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class QuantizeBench {
    @Param({"q8_0", "q4_0"})
    public String type;

    private DType dtype;
    private float[] row;
    private MemorySegment dst;

    @Setup
    public void setUp() {
        dtype = DType.valueOf(type.toUpperCase(java.util.Locale.ROOT));
        SplittableRandom r = new SplittableRandom(3);
        row = new float[2048];
        for (int i = 0; i < row.length; i++) row[i] = (float) r.nextGaussian();
        dst = MemorySegment.ofArray(new byte[(int) dtype.bytesFor(row.length)]);
    }

    @Benchmark
    public MemorySegment quantizeRow() {
        Quant.quantizeRow(dtype, row, 0, row.length, dst, 0);
        return dst;
    }
}
