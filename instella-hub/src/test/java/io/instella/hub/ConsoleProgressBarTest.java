package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ConsoleProgressBarTest {

    private final ByteArrayOutputStream sink = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(sink, true, StandardCharsets.UTF_8);
    private final AtomicLong clock = new AtomicLong();

    private String text() {
        return sink.toString(StandardCharsets.UTF_8);
    }

    private void advance(Duration d) {
        clock.addAndGet(d.toNanos());
    }

    @Test
    void lineShowsNameBytesPercentRateAndEta() {
        String line = ConsoleProgressBar.line("model.safetensors", 500_000_000, 2_000_000_000, 50_000_000, false);
        assertThat(line).isEqualTo("model.safetensors   25.0%  500.0 MB / 2.0 GB  50.0 MB/s  ETA 0:30");
        String bar = ConsoleProgressBar.line("x", 1, 2, 0, true);
        assertThat(bar).startsWith("x  [============            ]  50.0%");
        assertThat(ConsoleProgressBar.line("x", 5, 0, 0, false)).isEqualTo("x  5 B");
        assertThat(ConsoleProgressBar.line("a".repeat(60), 1, 2, 0, false)).startsWith("..." + "a".repeat(40) + " ");
    }

    @Test
    void unitsAndDurations() {
        assertThat(ConsoleProgressBar.bytes(999)).isEqualTo("999 B");
        assertThat(ConsoleProgressBar.bytes(1_000)).isEqualTo("1.0 kB");
        assertThat(ConsoleProgressBar.bytes(999_999)).isEqualTo("1.0 MB");
        assertThat(ConsoleProgressBar.bytes(2_500_000_000L)).isEqualTo("2.5 GB");
        assertThat(ConsoleProgressBar.duration(59)).isEqualTo("0:59");
        assertThat(ConsoleProgressBar.duration(3_725)).isEqualTo("1:02:05");
    }

    @Test
    void nonTerminalPrintsPeriodicLinesOnly() {
        ConsoleProgressBar bar = new ConsoleProgressBar(out, false, clock::get, Duration.ofSeconds(10));
        bar.onStart("w.bin", 1_000_000, 0);
        for (int i = 1; i <= 100; i++) {
            advance(Duration.ofMillis(500)); // 50 s in all: five periodic lines
            bar.onProgress("w.bin", i * 10_000L, 1_000_000);
        }
        bar.onComplete("w.bin", Path.of("w.bin"));
        String[] lines = text().split("\n");
        assertThat(text()).doesNotContain("\r");
        assertThat(lines[0]).isEqualTo("w.bin: downloading 1.0 MB");
        assertThat(lines).hasSize(1 + 5 + 1);
        assertThat(lines[1]).isEqualTo("w.bin   20.0%  200.0 kB / 1.0 MB  20.0 kB/s  ETA 0:40");
        assertThat(lines[6]).isEqualTo("w.bin  100.0%  1.0 MB / 1.0 MB  20.0 kB/s");
    }

    @Test
    void terminalRedrawsInPlaceAndEndsTheLine() {
        ConsoleProgressBar bar = new ConsoleProgressBar(out, true, clock::get, Duration.ofSeconds(10));
        bar.onStart("w.bin", 1_000, 400);
        advance(Duration.ofMillis(50));
        bar.onProgress("w.bin", 500, 1_000); // too soon: not drawn
        advance(Duration.ofMillis(100));
        bar.onProgress("w.bin", 600, 1_000);
        bar.onMessage("note");
        bar.onComplete("w.bin", Path.of("w.bin"));
        String t = text();
        assertThat(t).startsWith("\rw.bin  [").contains("40.0%").contains("60.0%").doesNotContain("50.0%");
        assertThat(t).contains("note\n").endsWith("\n").contains("100.0%");
        // resumed bytes do not count towards the rate: 200 B in 0.15 s
        assertThat(t).contains("1.3 kB/s");
    }
}
