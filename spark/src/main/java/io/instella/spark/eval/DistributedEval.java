package io.instella.spark.eval;

import io.instella.eval.run.EvalRunner;
import io.instella.eval.run.InstellaEvalModel;
import io.instella.eval.run.TaskInputs;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import scala.Tuple2;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Generation of evaluation documents spread over a Spark application's executors, for
 * {@link EvalRunner#run(EvalRunner.BatchGenerator, int)}: the driver's runner hands over the ids of the documents
 * still to do, Spark splits them into contiguous ranges (one task each), every task reads its documents' prompts and
 * images itself ({@link TaskInputs}, from the same dataset root, which must be readable on every node) and answers
 * them with its JVM's model, and the answers come back to the driver in document order. The runner then journals,
 * scores and writes everything exactly as a single-machine run does.
 */
public final class DistributedEval implements EvalRunner.BatchGenerator {
    private final JavaSparkContext spark;
    private final String model;
    private final String dataRoot;
    private final String popeMetric;
    private final int slices;

    /**
     * @param slices Spark tasks per call (0 = the application's default parallelism: one task per executor core)
     */
    public DistributedEval(JavaSparkContext spark, String model, Path dataRoot, String popeMetric, int slices) {
        this.spark = spark;
        this.model = model;
        this.dataRoot = dataRoot.toAbsolutePath().toString();
        this.popeMetric = popeMetric;
        this.slices = slices > 0 ? slices : spark.defaultParallelism();
    }

    @Override
    public List<String> generate(String task, List<Integer> docIds) {
        if (docIds.isEmpty()) return List.of();
        spark.setJobDescription(task + ": " + docIds.size() + " documents from " + docIds.getFirst());
        List<Tuple2<Integer, String>> answers = spark.parallelize(new ArrayList<>(docIds), Math.min(slices, docIds.size()))
                .mapPartitions(new AnswerRange(task, model, dataRoot, popeMetric))
                .collect();
        Map<Integer, String> byId = new HashMap<>();
        for (Tuple2<Integer, String> a : answers) byId.put(a._1(), a._2());
        List<String> out = new ArrayList<>(docIds.size());
        for (int id : docIds) {
            String r = byId.get(id);
            if (r == null) throw new IllegalStateException("no answer came back for " + task + " document " + id);
            out.add(r);
        }
        return out;
    }

    /** What one Spark task runs: its range of documents (ascending ids), answered one after another. */
    record AnswerRange(String task, String model, String dataRoot, String popeMetric)
            implements FlatMapFunction<Iterator<Integer>, Tuple2<Integer, String>> {
        @Override
        public Iterator<Tuple2<Integer, String>> call(Iterator<Integer> ids) {
            // Answers travel as (document id, text) tuples, which every spark.serializer handles (Kryo cannot do records).
            List<Tuple2<Integer, String>> out = new ArrayList<>();
            if (!ids.hasNext()) return out.iterator();
            InstellaEvalModel engine = EvalExecutorModels.get(model);
            try (TaskInputs inputs = TaskInputs.open(TaskInputs.task(task, popeMetric), Path.of(dataRoot))) {
                while (ids.hasNext()) {
                    int id = ids.next();
                    String prompt = inputs.prompt(id);
                    List<byte[]> images = inputs.visuals(id);
                    String response;
                    synchronized (engine) {
                        response = engine.generate(prompt, images, inputs.settings());
                    }
                    out.add(new Tuple2<>(id, response));
                }
            }
            return out.iterator();
        }
    }
}
