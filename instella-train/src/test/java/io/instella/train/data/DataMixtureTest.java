package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataMixtureTest {
    @TempDir
    Path dir;

    /** A jsonl file of n text records with ids prefix0..prefix(n-1). */
    Path dataset(String name, int n) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) lines.add(TestData.record(name + i, null, "q" + i, "a" + i));
        Path p = dir.resolve(name + ".jsonl");
        TestData.write(p, lines);
        return p;
    }

    static List<String> ids(DataMixture m, long[] refs) throws Exception {
        List<String> out = new ArrayList<>();
        for (long r : refs) out.add(m.read(r).id());
        return out;
    }

    @Test
    void offlineSamplingStrategiesMatchUpstream() throws Exception {
        dataset("a", 10);
        dataset("b", 7);
        dataset("c", 5);
        dataset("d", 4);
        Path yaml = dir.resolve("mix.yaml");
        Files.writeString(yaml, """
                datasets:
                  - json_path: a.jsonl
                    sampling_strategy: random:3
                  - json_path: b.jsonl
                    sampling_strategy: "random:50%"
                  - json_path: c.jsonl
                    sampling_strategy: first:2
                  - json_path: d.jsonl
                    sampling_strategy: end:3
                  - json_path: c.jsonl
                    sampling_strategy: repeat:2
                  - json_path: d.jsonl
                    sampling_strategy: end:0
                """);
        try (DataMixture m = DataMixture.open(yaml, dir, 42)) {
            // Python: random.seed(42); a = list(range(10)); random.shuffle(a); a[:3] -> [7, 3, 2]; then
            // b = list(range(7)); random.shuffle(b); b[:ceil(50 * 7 / 100)] -> [1, 2, 5, 6] (CPython 3.11.2).
            assertThat(ids(m, m.epochRecords(0))).containsExactly("a7", "a3", "a2", "b1", "b2", "b5", "b6", "c0", "c1",
                    "d1", "d2", "d3", "c0", "c1", "c2", "c3", "c4", "d0", "d1", "d2", "d3");
            assertThat(m.warnings()).singleElement().asString().contains("repeat:2").contains("is ignored");
            assertThat(m.datasets()).isEqualTo(6);
        }
        // Another seed draws other records.
        try (DataMixture m = DataMixture.open(yaml, dir, 7)) {
            assertThat(ids(m, m.epochRecords(0)).subList(0, 3)).isNotEqualTo(List.of("a7", "a3", "a2"));
        }
    }

    @Test
    void onlineChooseAndRepeatUpSampleReproducibly() throws Exception {
        dataset("s", 10);
        dataset("t", 4);
        Path yaml = dir.resolve("online.yaml");
        Files.writeString(yaml, """
                datasets:
                  - json_path: s.jsonl
                    choose: 3
                  - json_path: t.jsonl
                    repeat: 2.5
                  - json_path: t.jsonl
                """);
        try (DataMixture m = DataMixture.open(yaml, dir, 42); DataMixture again = DataMixture.open(yaml, dir, 42)) {
            assertThat(m.recordsPerEpoch()).isEqualTo(3 + 10 + 4);
            List<String> e0 = ids(m, m.epochRecords(0));
            List<String> e1 = ids(m, m.epochRecords(1));
            assertThat(e0).hasSize(17);
            assertThat(e0.subList(0, 3)).allMatch(id -> id.startsWith("s")).doesNotHaveDuplicates();
            // repeat 2.5 of 4 records: two whole copies and 2 drawn records.
            List<String> t = e0.subList(3, 13);
            assertThat(t.subList(0, 8)).containsExactly("t0", "t1", "t2", "t3", "t0", "t1", "t2", "t3");
            assertThat(t.subList(8, 10)).allMatch(id -> id.startsWith("t")).doesNotHaveDuplicates();
            assertThat(e0.subList(13, 17)).containsExactly("t0", "t1", "t2", "t3");
            // Same seed, same draws; the draw changes with the epoch.
            assertThat(ids(again, again.epochRecords(0))).isEqualTo(e0);
            assertThat(ids(again, again.epochRecords(1))).isEqualTo(e1);
            List<List<String>> draws = new ArrayList<>();
            for (int e = 0; e < 6; e++) draws.add(ids(m, m.epochRecords(e)).subList(0, 3));
            assertThat(draws.stream().distinct().count()).isGreaterThan(1);
        }
    }

    @Test
    void perDatasetImageFolderAndRelativePaths() throws Exception {
        Path sub = Files.createDirectories(dir.resolve("set"));
        Files.createDirectories(sub.resolve("imgs"));
        Files.write(sub.resolve("imgs/x.png"), TestData.png(20, 20, 3));
        TestData.write(sub.resolve("x.jsonl"), List.of(TestData.record("x", "x.png", "q", "a")));
        Path yaml = dir.resolve("m.yml");
        Files.writeString(yaml, "datasets:\n  - json_path: set/x.jsonl\n    image_folder: set/imgs\n");
        try (DataMixture m = DataMixture.open(yaml, dir.resolve("elsewhere"), 1)) {
            LlavaRecord r = m.read(m.epochRecords(0)[0]);
            assertThat(((LlavaRecord.FileImage) r.images().get(0)).path()).isEqualTo(sub.resolve("imgs/x.png"));
        }
    }

    @Test
    void badMixturesAreRefusedInWords() throws Exception {
        dataset("a", 3);
        Path yaml = dir.resolve("bad.yaml");
        Files.writeString(yaml, "datasets:\n  - json_path: a.jsonl\n    sampling_strategy: middle:2\n");
        assertThatThrownBy(() -> DataMixture.open(yaml, dir, 42)).isInstanceOf(DataException.class)
                .hasMessageContaining("dataset 1").hasMessageContaining("'middle:2' is not one of all, first:N");
        Files.writeString(yaml, "datasets:\n  - json_path: missing.jsonl\n");
        assertThatThrownBy(() -> DataMixture.open(yaml, dir, 42)).hasMessageEndingWith("missing.jsonl: data file not found");
        Files.writeString(yaml, "datasets:\n  - shard_path: 's3://bucket/x/'\n");
        assertThatThrownBy(() -> DataMixture.open(yaml, dir, 42)).hasMessageContaining("remote data 's3://bucket/x/'");
        Files.writeString(yaml, "nothing: here\n");
        assertThatThrownBy(() -> DataMixture.open(yaml, dir, 42)).hasMessageContaining("expected a 'datasets:' list");
    }

    @Test
    void percentIsCeilOfAnIntegerPercentage() {
        List<String> warnings = new ArrayList<>();
        assertThat(DataMixture.sample(7, "first:50%", null, "x", warnings)).containsExactly(0, 1, 2, 3);
        assertThat(DataMixture.sample(3, "first:10", null, "x", warnings)).containsExactly(0, 1, 2);
        assertThat(DataMixture.sample(5, "all", null, "x", warnings)).isNull();
        assertThat(Arrays.stream(DataMixture.sample(5, "end:2", null, "x", warnings))).containsExactly(3, 4);
        assertThatThrownBy(() -> DataMixture.sample(5, "first:12.5%", null, "x", warnings))
                .hasMessageContaining("not a whole number or an integer percentage");
    }
}
