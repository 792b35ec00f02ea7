package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The loader's order is a function of (seed, epoch) and the data alone, and a saved position resumes exactly. */
class DataLoaderTest {
    @TempDir
    Path dir;

    Path data;

    /** 12 records, every third with an image (odd sizes so the images differ), one of them missing. */
    void writeData() throws Exception {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            String image = null;
            if (i % 3 == 0) {
                image = "img" + i + ".png";
                if (i != 6) Files.write(dir.resolve(image), TestData.png(30 + i, 20 + 2 * i, i));
            }
            lines.add(TestData.record("r" + i, image, "Question " + i + "?", "Answer " + i + "."));
        }
        data = dir.resolve("d.jsonl");
        TestData.write(data, lines);
    }

    TrainingData open(int threads, int batch, boolean dropLast) {
        DataOptions o = DataOptions.of(data).withImageFolder(dir).withSeed(7).withBatchSize(batch).withDropLast(dropLast)
                .withThreads(threads).withPrefetch(5).withModelMaxLength(4096);
        return TrainingData.open(o, TestData.tokenizer(), 1, TestData.square(), null); // one tile per image: fast
    }

    /** A batch as text: ids of its records and a digest of everything in it. */
    static String describe(Batch b) {
        StringBuilder sb = new StringBuilder();
        for (TrainingExample e : b.examples()) {
            sb.append(e.id()).append('/').append(e.mergedLength()).append('/');
            for (var img : e.images()) sb.append(Arrays.hashCode(img.pixelValues())).append(',');
            sb.append(' ');
        }
        sb.append(Arrays.deepHashCode(b.inputIds())).append(' ').append(Arrays.deepHashCode(b.labels()))
                .append(' ').append(Arrays.deepHashCode(b.attentionMask()));
        return sb.toString();
    }

    static List<String> take(DataLoader.BatchIterator it, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(describe(it.next()));
        return out;
    }

    @Test
    void orderIsCPythonsShuffleOfSeedAndEpoch() throws Exception {
        writeData();
        try (TrainingData td = open(1, 1, false)) {
            // random.Random(7 + (e << 64)).shuffle(list(range(12))) in CPython 3.11.2
            long[] e0 = td.loader().epochOrder(0);
            long[] e1 = td.loader().epochOrder(1);
            assertThat(e0).containsExactly(7, 11, 3, 10, 8, 4, 9, 1, 0, 6, 2, 5);
            assertThat(e1).containsExactly(9, 4, 11, 6, 10, 2, 3, 8, 7, 0, 5, 1);
            var it = td.loader().batches(LoaderPosition.START);
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 11; i++) ids.add(it.next().examples().get(0).id());
            // r6's image is missing: skipped, its place taken by the next record.
            assertThat(ids).containsExactly("r7", "r11", "r3", "r10", "r8", "r4", "r9", "r1", "r0", "r2", "r5");
            assertThat(td.report().count(DataReport.Reason.MISSING_IMAGE)).isEqualTo(1);
            assertThat(it.next().examples().get(0).id()).isEqualTo("r9");
            assertThat(it.position()).isEqualTo(new LoaderPosition(1, 1, 1));
        }
    }

    @Test
    void batchesDoNotDependOnThreadCount() throws Exception {
        writeData();
        List<String> one;
        List<String> many;
        try (TrainingData td = open(1, 3, false)) {
            one = take(td.loader().batches(LoaderPosition.START), 9);
        }
        try (TrainingData td = open(4, 3, false)) {
            many = take(td.loader().batches(LoaderPosition.START), 9);
        }
        assertThat(many).isEqualTo(one);
        // 11 usable records per epoch, batch 3, short last batch kept: 3 + 3 + 3 + 2.
        assertThat(one.get(3).split(" ")).hasSize(2 + 3);
    }

    @Test
    void resumingFromASavedPositionYieldsExactlyTheRemainingBatches() throws Exception {
        writeData();
        for (boolean dropLast : new boolean[] {false, true}) {
            List<String> straight;
            try (TrainingData td = open(2, 3, dropLast)) {
                straight = take(td.loader().batches(LoaderPosition.START), 10);
            }
            for (int cut : new int[] {1, 3, 4, 7}) {
                LoaderPosition saved;
                List<String> resumed;
                try (TrainingData td = open(3, 3, dropLast)) {
                    var it = td.loader().batches(LoaderPosition.START);
                    resumed = new ArrayList<>(take(it, cut));
                    assertThat(it.hasNext()).isTrue(); // prepares the next batch: the position must not move
                    saved = LoaderPosition.fromMap(it.position().toMap());
                }
                try (TrainingData td = open(1, 3, dropLast)) {
                    resumed.addAll(take(td.loader().batches(saved), 10 - cut));
                }
                assertThat(resumed).as("dropLast=" + dropLast + ", cut after " + cut).isEqualTo(straight);
            }
        }
    }

    @Test
    void dropLastDropsTheShortBatchAndCountsNominalBatches() throws Exception {
        writeData();
        try (TrainingData td = open(2, 5, true)) {
            assertThat(td.loader().batchesPerEpoch()).isEqualTo(2);
            var it = td.loader().batches(LoaderPosition.START);
            it.next();
            it.next();
            assertThat(it.position().epoch()).isZero();
            it.next(); // 11 usable: 5 + 5, the last one dropped; this batch is epoch 1's first
            // epoch 1 order 9, 4, 11, 6, 10, ...: r6 (missing image) skipped, so 6 records make 5 examples
            assertThat(it.position()).isEqualTo(new LoaderPosition(1, 1, 6));
        }
        try (TrainingData td = open(2, 5, false)) {
            assertThat(td.loader().batchesPerEpoch()).isEqualTo(3);
        }
    }

    @Test
    void anEpochRangeEndsTheIteration() throws Exception {
        writeData();
        for (boolean dropLast : new boolean[] {false, true}) {
            try (TrainingData td = open(2, 3, dropLast)) {
                var it = td.loader().batches(LoaderPosition.START, 1);
                int n = 0;
                while (it.hasNext()) {
                    it.next();
                    n++;
                }
                assertThat(n).as("dropLast=" + dropLast).isEqualTo(dropLast ? 3 : 4); // 11 usable records
                assertThat(td.loader().batches(it.position(), 1).hasNext()).isFalse();
                assertThat(td.loader().batches(it.position(), 2).next().examples().get(0).id()).isEqualTo("r9");
            }
        }
    }

    @Test
    void closingStopsTheBackgroundThreads() throws Exception {
        writeData();
        TrainingData td = open(3, 2, false);
        var it = td.loader().batches(LoaderPosition.START);
        it.next();
        td.close();
        assertThat(it.hasNext()).isFalse();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("instella-data-")) t.join(10_000); // a worker ends just after the pool says so
        }
        assertThat(Thread.getAllStackTraces().keySet())
                .noneMatch(t -> t.getName().startsWith("instella-data-") && t.isAlive());
    }

    @Test
    void closingFromAnotherThreadEndsAWaitForABatch() throws Exception {
        java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1);
        RecordSource slow = new RecordSource() {
            @Override public String name() { return "slow"; }
            @Override public int size() { return 4; }
            @Override public LlavaRecord read(int index) {
                reading.countDown();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new IllegalStateException("interrupted");
            }
        };
        DataLoader loader = new DataLoader(DataMixture.ofSources(java.util.List.of(slow), 1),
                new ExampleBuilder(TestData.tokenizer(), 1, null, 100, false), new Collator(1, 100), new DataReport(),
                1, false, false, false, 1, 1, 2);
        var it = loader.batches(LoaderPosition.START);
        java.util.concurrent.CompletableFuture<Throwable> waiting = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                it.next();
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        assertThat(reading.await(20, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        Thread.sleep(100); // let the trainer's thread reach its wait for the batch
        loader.close();
        Throwable t = waiting.get(20, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(t).isInstanceOf(java.util.concurrent.CancellationException.class)
                .hasMessage("data loading was stopped");
    }
}
