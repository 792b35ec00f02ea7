package io.instella.core.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ParallelTest {
    private final int original = Parallel.threads();

    @AfterEach
    void restore() {
        Parallel.setThreads(original);
    }

    @Test
    void everyIndexRunsExactlyOnceEvenOnTheFirstCallOfANewPool() {
        for (int threads : new int[]{2, 3, 4}) {
            for (int round = 0; round < 20; round++) {
                Parallel.setThreads(1);
                Parallel.setThreads(threads); // workers may still be starting when the first call is published
                AtomicIntegerArray hits = new AtomicIntegerArray(1000);
                Parallel.forRange(1000, 7, (a, b) -> {
                    for (int i = a; i < b; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < 1000; i++) assertThat(hits.get(i)).as("index %d", i).isEqualTo(1);
            }
        }
    }

    @Test
    void nestedCallsRunInlineAndBodyFailuresReachTheCaller() {
        Parallel.setThreads(2);
        AtomicIntegerArray hits = new AtomicIntegerArray(64);
        Parallel.forRange(8, 1, (a, b) -> {
            for (int i = a; i < b; i++) {
                int base = i * 8;
                Parallel.forRange(8, 1, (c, d) -> {
                    for (int j = c; j < d; j++) hits.incrementAndGet(base + j);
                });
            }
        });
        for (int i = 0; i < 64; i++) assertThat(hits.get(i)).isEqualTo(1);
        assertThatThrownBy(() -> Parallel.forRange(100, 1, (a, b) -> {
            if (a <= 50 && 50 < b) throw new IllegalStateException("boom at " + a);
        })).isInstanceOf(IllegalStateException.class).hasMessageStartingWith("boom");
        // the pool is usable after a failure
        AtomicIntegerArray again = new AtomicIntegerArray(10);
        Parallel.forRange(10, 1, (a, b) -> {
            for (int i = a; i < b; i++) again.incrementAndGet(i);
        });
        for (int i = 0; i < 10; i++) assertThat(again.get(i)).isEqualTo(1);
    }
}
