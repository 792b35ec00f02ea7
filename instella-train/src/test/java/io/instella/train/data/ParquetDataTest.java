package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A Hugging Face style parquet (image bytes column + conversations) gives the same examples as json + files. */
class ParquetDataTest {
    @TempDir
    Path dir;

    @Test
    void parquetRecordsMatchTheSameRecordsInJsonl() throws Exception {
        byte[] png = TestData.png(50, 70, 5);
        Files.write(dir.resolve("p.png"), png);
        Path parquet = dir.resolve("train-00000-of-00001.parquet");
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE t (id VARCHAR, image STRUCT(bytes BLOB, path VARCHAR), "
                    + "conversations STRUCT(\"from\" VARCHAR, \"value\" VARCHAR)[])");
            try (PreparedStatement p = c.prepareStatement("INSERT INTO t VALUES (?, {'bytes': ?, 'path': 'p.png'}, "
                    + "[{'from': 'human', 'value': ?}, {'from': 'gpt', 'value': ?}])")) {
                p.setString(1, "pic");
                p.setBytes(2, png);
                p.setString(3, "<image>\nWhat is it?");
                p.setString(4, "Stripes.");
                p.execute();
            }
            s.execute("INSERT INTO t VALUES ('txt', NULL, [{'from': 'human', 'value': 'Hi?'}, {'from': 'gpt', 'value': 'Hello.'}])");
            s.execute("COPY t TO '" + parquet.toString().replace("'", "''") + "' (FORMAT PARQUET)");
        }
        Path jsonl = dir.resolve("same.jsonl");
        TestData.write(jsonl, List.of(TestData.record("pic", "p.png", "What is it?", "Stripes."),
                TestData.record("txt", null, "Hi?", "Hello.")));

        ExampleBuilder builder = new ExampleBuilder(TestData.tokenizer(), 1, TestData.anyres(), 32768, false);
        try (DataMixture fromParquet = DataMixture.open(dir, null, 42); DataMixture fromJson = DataMixture.open(jsonl, dir, 42)) {
            assertThat(fromParquet.recordsPerEpoch()).isEqualTo(2);
            for (int i = 0; i < 2; i++) {
                LlavaRecord pr = fromParquet.read(DataMixture.ref(0, i));
                TrainingExample a = builder.build(pr);
                TrainingExample b = builder.build(fromJson.read(DataMixture.ref(0, i)));
                assertThat(a.id()).isEqualTo(b.id());
                assertThat(a.inputIds()).isEqualTo(b.inputIds());
                assertThat(a.labels()).isEqualTo(b.labels());
                assertThat(a.mergedLength()).isEqualTo(b.mergedLength());
                assertThat(a.textOnly()).isEqualTo(b.textOnly());
                assertThat(a.images()).hasSameSizeAs(b.images());
                for (int k = 0; k < a.images().size(); k++) {
                    assertThat(a.images().get(k).pixelValues()).isEqualTo(b.images().get(k).pixelValues());
                }
                assertThat(a.source()).isEqualTo(parquet + "#" + i);
            }
        }
    }

    @Test
    void aListOfImagesColumnGivesMultiImageRecords() throws Exception {
        byte[] a = TestData.png(40, 20, 1);
        byte[] b = TestData.png(20, 40, 2);
        Path parquet = dir.resolve("multi.parquet");
        try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE t (images STRUCT(bytes BLOB, path VARCHAR)[], "
                    + "conversations STRUCT(\"from\" VARCHAR, \"value\" VARCHAR)[])");
            try (PreparedStatement p = c.prepareStatement("INSERT INTO t VALUES ([{'bytes': ?, 'path': 'a'}, "
                    + "{'bytes': ?, 'path': 'b'}], [{'from': 'human', 'value': '<image>\n<image>\nSame?'}, "
                    + "{'from': 'gpt', 'value': 'No.'}])")) {
                p.setBytes(1, a);
                p.setBytes(2, b);
                p.execute();
            }
            s.execute("COPY t TO '" + parquet.toString().replace("'", "''") + "' (FORMAT PARQUET)");
        }
        try (DataMixture m = DataMixture.open(parquet, null, 42)) {
            LlavaRecord r = m.read(DataMixture.ref(0, 0));
            assertThat(r.id()).isEqualTo("0");
            assertThat(r.images()).hasSize(2);
            TrainingExample e = new ExampleBuilder(TestData.tokenizer(), 1, TestData.anyres(), 32768, false).build(r);
            assertThat(e.imageSizes()).isDeepEqualTo(new int[][] {{40, 20}, {20, 40}});
            assertThat(e.mergedLength()).isEqualTo(e.inputIds().length - 2 + 2 * 577);
        }
    }
}
