package io.instella.core.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * The machine's own limits, measured by the engine's thread pool with the same Vector API it computes
 * with: streaming read bandwidth over a buffer far larger than the caches, and peak FMA throughput with
 * independent accumulators (no memory traffic). Benchmarks divide their figures by these.
 */
public final class MachineLimits {
    private static final VectorSpecies<Float> F = Vectors.FLOAT;

    private MachineLimits() {}

    /** Streaming read bandwidth in GB/s (10^9 bytes/s) with all pool threads, best of {@code reps} passes. */
    public static double readBandwidthGbps(long bytes, int reps) {
        bytes -= bytes % (64L * F.vectorByteSize());
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(bytes, 4096);
            buf.fill((byte) 1); // fault every page in before timing
            long total = bytes;
            int threads = Parallel.threads();
            // Many chunks, claimed dynamically: every thread gets work even if one wakes late.
            int parts = threads * 16;
            long per = total / parts / F.vectorByteSize() * F.vectorByteSize();
            double best = 0;
            DoubleAdder sink = new DoubleAdder();
            // Compile the loop as a whole method first (an on-stack-replaced first call runs unoptimised vectors).
            for (int i = 0; i < 20_000; i++) sink.add(sumFloats(buf, 0, 64L * F.vectorByteSize()));
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                Parallel.forRange(parts, 1, (a, b) -> {
                    for (int t = a; t < b; t++) sink.add(sumFloats(buf, t * per, per));
                });
                double s = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, per * parts / s / 1e9);
            }
            if (sink.sum() == 42) System.out.print(""); // keep the sums alive
            return best;
        }
    }

    private static float sumFloats(MemorySegment seg, long off, long len) {
        int vb = F.vectorByteSize();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end = off + len - 4L * vb;
        long p = off;
        for (; p <= end; p += 4L * vb) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, seg, p, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, seg, p + vb, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, seg, p + 2L * vb, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, seg, p + 3L * vb, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    /** Peak FMA throughput in GFLOP/s (an FMA is 2 flops per lane) with all pool threads, best of {@code reps}. */
    public static double fmaPeakGflops(long itersPerThread, int reps) {
        int threads = Parallel.threads();
        double best = 0;
        DoubleAdder sink = new DoubleAdder();
        for (int i = 0; i < 20_000; i++) sink.add(fmaLoop(100));
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            int parts = threads * 16;
            long iters = itersPerThread / 16;
            Parallel.forRange(parts, 1, (a, b) -> {
                for (int t = a; t < b; t++) sink.add(fmaLoop(iters));
            });
            double s = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, parts * iters * 12.0 * F.length() * 2 / s / 1e9);
        }
        if (sink.sum() == 42) System.out.print("");
        return best;
    }

    /** 12 independent FMA chains: enough to cover the FMA latency on two FMA ports. */
    private static float fmaLoop(long iters) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f), c = FloatVector.broadcast(F, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(F, 1f), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3), a4 = a0.add(4), a5 = a0.add(5);
        FloatVector a6 = a0.add(6), a7 = a0.add(7), a8 = a0.add(8), a9 = a0.add(9), a10 = a0.add(10), a11 = a0.add(11);
        for (long i = 0; i < iters; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
            a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
            a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }
}
