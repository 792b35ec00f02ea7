package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.data.DatasetFiles;
import io.instella.eval.data.ParquetDataset;
import io.instella.eval.tasks.DatasetSpec;
import io.instella.eval.tasks.EvalInputException;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.PopeTask;
import io.instella.eval.tasks.Tasks;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What the model is asked for each document of one task: the documents of the task's split, each one's prompt
 * ({@code doc_to_text}), its images ({@code doc_to_visual}) and the task's generation settings. The runner reads
 * them here, and so can a worker that generates a share of the documents elsewhere (a Spark executor): both see
 * the same inputs. Images are read forward only: ask for documents in ascending order.
 */
public final class TaskInputs implements AutoCloseable {
    private final EvalTask task;
    private final ParquetDataset data;
    private final List<ObjectNode> documents;
    private final Map<String, byte[]> external;
    private final GenerationSettings settings;
    private ParquetDataset.ImageCursor images;

    /** The task as a run scores it (POPE's table column depends on the run's {@code --pope-metric}). */
    public static EvalTask task(String name, String popeMetric) {
        return name.equals("pope") ? new PopeTask(popeMetric) : Tasks.byName(name);
    }

    /** Opens the task's split under {@code dataRoot} (a hub cache or a directory of dataset repos). */
    public static TaskInputs open(EvalTask task, Path dataRoot) {
        ParquetDataset data = new ParquetDataset(DatasetFiles.shards(dataRoot, task.dataset()));
        try {
            return new TaskInputs(task, data, dataRoot);
        } catch (RuntimeException e) {
            data.close();
            throw e;
        }
    }

    private TaskInputs(EvalTask task, ParquetDataset data, Path dataRoot) {
        this.task = task;
        this.data = data;
        this.documents = data.documents();
        this.external = externalImages(task, dataRoot);
        this.settings = GenerationSettings.fromTaskKwargs(task.generationKwargs());
    }

    public EvalTask task() {
        return task;
    }

    /** Every document of the split, in dataset order (document id = index). */
    public List<ObjectNode> documents() {
        return documents;
    }

    /** The task's decoding settings (the same for every document). */
    public GenerationSettings settings() {
        return settings;
    }

    /** The context of document {@code docId} ({@code doc_to_text}); a document the task cannot read names itself. */
    public String prompt(int docId) {
        try {
            return task.docToText(documents.get(docId));
        } catch (EvalInputException e) {
            throw new IllegalStateException(task.name() + " document " + docId + " of " + task.dataset().path() + ": " + e.getMessage(), e);
        }
    }

    /** The encoded images of document {@code docId} in the task's order; ids must not decrease between calls. */
    public List<byte[]> visuals(int docId) {
        ObjectNode doc = documents.get(docId);
        if (external != null) {
            EvalTask.ExternalImages ext = task.externalImages();
            JsonNode key = doc.get(ext.docKeyField());
            byte[] img = key == null ? null : external.get(key.asText());
            if (img == null) {
                throw new IllegalStateException(task.name() + " document " + docId + ": no image with " + ext.idColumn() + " = " + key
                        + " in " + task.dataset().path() + "/" + ext.config());
            }
            return List.of(img);
        }
        if (images == null) images = data.imageCursor();
        return images.imagesFor(docId).select(task.imageColumns(doc));
    }

    private static Map<String, byte[]> externalImages(EvalTask task, Path dataRoot) {
        EvalTask.ExternalImages ext = task.externalImages();
        if (ext == null) return null;
        DatasetSpec spec = new DatasetSpec(task.dataset().path(), ext.config(), ext.split());
        try (ParquetDataset images = new ParquetDataset(DatasetFiles.shards(dataRoot, spec))) {
            return images.imagesById(ext.idColumn(), ext.imageColumn());
        }
    }

    @Override
    public void close() {
        try {
            if (images != null) images.close();
        } finally {
            data.close();
        }
    }
}
