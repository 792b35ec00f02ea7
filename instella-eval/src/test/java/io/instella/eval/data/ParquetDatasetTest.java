package io.instella.eval.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.tasks.DatasetSpec;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.Tasks;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Reading the tasks' parquet datasets (generated here) through DuckDB. */
class ParquetDatasetTest {
    @TempDir
    static Path root;

    @BeforeAll
    static void writeFixtures() {
        ParquetFixtures.writeAll(root);
    }

    @Test
    void everyTaskSplitIsFoundAndReadInOrder() {
        for (String name : Tasks.names()) {
            EvalTask task = Tasks.byName(name);
            List<Path> shards = DatasetFiles.shards(root, task.dataset());
            try (ParquetDataset data = new ParquetDataset(shards)) {
                List<ObjectNode> docs = data.documents();
                assertThat(docs).as(name).hasSize(ParquetFixtures.ROWS);
                for (ObjectNode doc : docs) {
                    for (String image : data.imageColumns()) assertThat(doc.has(image)).as(name + " " + image).isFalse();
                    assertThat(task.docToText(doc)).as(name).isNotBlank();
                }
            }
        }
    }

    @Test
    void shardsAreConcatenatedInNameOrder() {
        List<Path> shards = DatasetFiles.shards(root, new DatasetSpec("lmms-lab/POPE", null, "test"));
        assertThat(shards).extracting(p -> p.getFileName().toString())
                .containsExactly("test-00000-of-00002.parquet", "test-00001-of-00002.parquet");
        try (ParquetDataset data = new ParquetDataset(shards)) {
            assertThat(data.documents()).extracting(d -> d.get("question_id").textValue()).containsExactly("1", "2", "3", "4", "5", "6");
            assertThat(data.imageColumns()).containsExactly("image");
            try (ParquetDataset.ImageCursor cursor = data.imageCursor()) {
                assertThat(cursor.imagesFor(1).select(List.of("image"))).singleElement().isEqualTo(ParquetFixtures.png(301));
                assertThat(cursor.imagesFor(5).select(List.of("image"))).singleElement().isEqualTo(ParquetFixtures.png(305));
                assertThatThrownBy(() -> cursor.imagesFor(2)).isInstanceOf(IllegalStateException.class);
            }
        }
    }

    @Test
    void fieldTypesSurviveAsJson() {
        try (ParquetDataset data = new ParquetDataset(DatasetFiles.shards(root, new DatasetSpec("lmms-lab/ScienceQA", "ScienceQA-IMG", "test")))) {
            ObjectNode doc = data.documents().get(1);
            assertThat(doc.get("answer").isIntegralNumber()).isTrue();
            assertThat(doc.get("choices").isArray()).isTrue();
            assertThat(doc.get("hint").textValue()).isEqualTo("Look at the map.");
            try (ParquetDataset.ImageCursor cursor = data.imageCursor()) {
                assertThat(cursor.imagesFor(2).select(List.of("image"))).isEmpty(); // a null image: text-only question
            }
        }
        try (ParquetDataset data = new ParquetDataset(DatasetFiles.shards(root, new DatasetSpec("lmms-lab/MMBench", "en", "dev")))) {
            ObjectNode doc = data.documents().get(1);
            assertThat(doc.get("index").longValue()).isEqualTo(2);
            assertThat(doc.get("C").isNull()).isTrue();
            assertThat(doc.get("L2-category").textValue()).isEqualTo("finegrained_perception");
        }
    }

    @Test
    void imageSequencesAndNumberedImageColumns() {
        try (ParquetDataset data = new ParquetDataset(DatasetFiles.shards(root, new DatasetSpec("lmms-lab/SEED-Bench", null, "test")));
             ParquetDataset.ImageCursor cursor = data.imageCursor()) {
            assertThat(cursor.imagesFor(4).select(List.of("image"))).hasSize(2);
        }
        EvalTask mmmu = Tasks.byName("mmmu_val");
        try (ParquetDataset data = new ParquetDataset(DatasetFiles.shards(root, mmmu.dataset()));
             ParquetDataset.ImageCursor cursor = data.imageCursor()) {
            assertThat(data.imageColumns()).hasSize(7);
            ObjectNode doc = data.documents().get(1);
            assertThat(mmmu.imageColumns(doc)).containsExactly("image_1", "image_2");
            assertThat(cursor.imagesFor(1).select(mmmu.imageColumns(doc)))
                    .containsExactly(ParquetFixtures.png(611), ParquetFixtures.png(612));
        }
    }

    @Test
    void gqaImagesComeFromTheirOwnConfig() {
        EvalTask.ExternalImages ext = Tasks.byName("gqa").externalImages();
        try (ParquetDataset data = new ParquetDataset(DatasetFiles.shards(root, new DatasetSpec("lmms-lab/GQA", ext.config(), ext.split())))) {
            Map<String, byte[]> byId = data.imagesById(ext.idColumn(), ext.imageColumn());
            assertThat(byId).containsOnlyKeys("n0", "n1", "n2");
            assertThat(byId.get("n2")).isEqualTo(ParquetFixtures.png(102));
        }
    }

    @Test
    void readmeConfigsAndMissingDatasetsAreExplained() {
        assertThat(DatasetFiles.shards(root, new DatasetSpec("Lin-Chen/MMStar", null, "val")))
                .extracting(p -> p.getFileName().toString()).containsExactly("mmstar.parquet");
        assertThatThrownBy(() -> DatasetFiles.shards(root, new DatasetSpec("lmms-lab/NoSuch", null, "test")))
                .isInstanceOf(DatasetFiles.DatasetNotFoundException.class).hasMessageContaining("lmms-lab/NoSuch").hasMessageContaining("--data");
        assertThatThrownBy(() -> DatasetFiles.shards(root, new DatasetSpec("lmms-lab/POPE", null, "validation")))
                .isInstanceOf(DatasetFiles.DatasetNotFoundException.class).hasMessageContaining("split validation");
    }

    @Test
    void imageColumnTypesAreRecognised() throws Exception {
        assertThat(ParquetDataset.isImageType("STRUCT(bytes BLOB, path VARCHAR)")).isTrue();
        assertThat(ParquetDataset.isImageListType("STRUCT(bytes BLOB, path VARCHAR)[]")).isTrue();
        assertThat(ParquetDataset.isImageType("STRUCT(source VARCHAR, split VARCHAR)")).isFalse();
        assertThat(Files.exists(root)).isTrue();
    }
}
