package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blob lock excludes Python's filelock (flock(2)) in both directions. Uses python3's standard library only; skipped
 * where python3 or native access is missing.
 */
class BlobLockTest {

    private static final String HOLD = "import fcntl,sys,time\n"
            + "f=open(sys.argv[1],'a')\n"
            + "fcntl.flock(f, fcntl.LOCK_EX)\n"
            + "print('locked', flush=True)\n"
            + "time.sleep(float(sys.argv[2]))\n";
    private static final String PROBE = "import fcntl,sys\n"
            + "f=open(sys.argv[1],'a')\n"
            + "try:\n"
            + "    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            + "    print('free')\n"
            + "except BlockingIOError:\n"
            + "    print('busy')\n";

    @TempDir
    Path tmp;

    private static boolean python3() {
        try {
            Process p = new ProcessBuilder("python3", "-c", "import fcntl").redirectErrorStream(true).start();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Test
    void waitsForAPythonHolderAndBlocksAPythonProbe() throws Exception {
        assumeTrue(BlobLock.usesFlock(), "flock through FFM needs --enable-native-access on Linux/macOS");
        assumeTrue(python3(), "python3 not available");
        Path lockFile = tmp.resolve(".locks/models--a--b/abc.lock");

        // Python holds the lock for 0.8 s: we must wait for it
        java.nio.file.Files.createDirectories(lockFile.getParent());
        Process holder = new ProcessBuilder("python3", "-c", HOLD, lockFile.toString(), "0.8").start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                StandardCharsets.UTF_8))) {
            assertThat(r.readLine()).isEqualTo("locked");
            long start = System.nanoTime();
            List<String> notices = new ArrayList<>();
            try (BlobLock lock = BlobLock.acquire(lockFile, Duration.ofMillis(100), notices::add)) {
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofMillis(300));
                assertThat(notices).singleElement().asString().contains("Waiting for another download");

                // while we hold it, Python cannot take it
                assertThat(probe(lockFile)).isEqualTo("busy");
            }
        } finally {
            holder.waitFor(10, TimeUnit.SECONDS);
            holder.destroy();
        }
        assertThat(probe(lockFile)).isEqualTo("free");
    }

    @Test
    void threadsOfOneProcessTakeTurns() throws Exception {
        Path lockFile = tmp.resolve("x.lock");
        try (BlobLock first = BlobLock.acquire(lockFile, Duration.ofSeconds(5), m -> { })) {
            Thread other = Thread.ofPlatform().start(() -> {
                try (BlobLock second = BlobLock.acquire(lockFile, Duration.ofSeconds(5), m -> { })) {
                    // acquired after the first is released
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            other.join(300);
            assertThat(other.isAlive()).isTrue();
            first.close();
            other.join(5_000);
            assertThat(other.isAlive()).isFalse();
        }
    }

    private static String probe(Path lockFile) throws Exception {
        Process p = new ProcessBuilder("python3", "-c", PROBE, lockFile.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(10, TimeUnit.SECONDS);
        return out;
    }
}
