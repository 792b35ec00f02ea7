package io.instella.train.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.model.InstellaException;
import io.instella.model.config.InstellaConfig;
import io.instella.train.data.Batch;
import io.instella.train.data.DataOptions;
import io.instella.train.data.TrainingData;
import io.instella.train.data.TrainingExample;
import io.instella.train.model.TrainableModel;
import io.instella.train.model.TunableParts;
import io.instella.train.params.Parameter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code instella train grads}: one forward/backward over the listed records as one micro-batch (collated and padded
 * as upstream), no optimizer step; the loss, ids, labels and every trained tensor's gradient, for comparing with the
 * upstream trainer. Its output is a contract used by checks outside the repository: keep it stable.
 */
@Command(name = "grads", mixinStandardHelpOptions = true,
        description = "One forward/backward on the listed records as one micro-batch: loss, ids, labels and gradients.")
public final class GradsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "DIR", description = "Model checkpoint directory.")
    Path model;

    @Mixin
    DataFlags data;

    @Option(names = "--examples", required = true, split = ",", paramLabel = "ID", description = "Record ids, in batch order.")
    List<String> examples;

    @Option(names = "--out", paramLabel = "FILE.safetensors", description = "Write grad.<name> (F32) and merged_labels (I64) here.")
    Path out;

    @Option(names = "--json", description = "Print one JSON object on stdout.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        PrintWriter stdout = spec.commandLine().getOut();
        if (!Files.isDirectory(model)) throw new InstellaException(model + ": no such model directory");
        InstellaConfig config = InstellaConfig.load(model);
        String aspect = data.aspectRatio != null ? data.aspectRatio : config.hasVision() ? config.multimodal().imageAspectRatio() : "square";
        String merge = data.mergeType != null ? data.mergeType : config.hasVision() ? config.multimodal().patchMergeType() : "flat";
        if (aspect == null) aspect = "square";
        int maxLength = data.modelMaxLength != null ? data.modelMaxLength : 32768;
        TunableParts parts = TunableParts.parse(data.tunableParts == null ? "mm_mlp_adapter" : data.tunableParts);
        DataOptions options = DataOptions.of(data.requireData()).withImageFolder(data.imageFolder).withImageAspectRatio(aspect)
                .withMergeType(merge).withModelMaxLength(maxLength).withTruncate(data.truncate).withStrict(true).withShuffle(false);
        try (TrainableModel trainable = TrainableModel.open(model, new TrainableModel.Options(parts, aspect, merge, maxLength));
             TrainingData td = TrainingData.open(model, options)) {
            List<TrainingExample> records = td.examplesById(examples);
            Batch batch = td.collator().collate(records);
            TrainableModel.StepResult r = trainable.forwardBackward(batch);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("loss", r.loss());
            result.put("num_targets", r.targets());
            List<Map<String, Object>> perExample = new ArrayList<>();
            for (int b = 0; b < batch.size(); b++) {
                TrainingExample e = records.get(b);
                TrainableModel.ExampleResult er = r.examples().get(b);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("id", e.id());
                m.put("input_ids", e.inputIds());
                m.put("labels", e.labels());
                m.put("merged_length", er.mergedLength());
                m.put("loss", er.loss());
                perExample.add(m);
            }
            result.put("examples", perExample);
            Map<String, Double> norms = new LinkedHashMap<>();
            for (Parameter p : trainable.parameters()) {
                if (p.grad() == null) continue;
                double s = 0;
                for (float v : p.grad()) s += (double) v * v;
                norms.put(p.name(), Math.sqrt(s));
            }
            result.put("grad_l2_norms", norms);
            if (out != null) writeTensors(trainable, r, out);
            if (json) {
                stdout.println(new ObjectMapper().writeValueAsString(result));
            } else {
                stdout.printf("loss %.6f over %d targets; merged lengths %s; %d gradients%n", r.loss(), r.targets(),
                        r.examples().stream().map(TrainableModel.ExampleResult::mergedLength).toList(), norms.size());
            }
            stdout.flush();
        }
        return 0;
    }

    private static void writeTensors(TrainableModel trainable, TrainableModel.StepResult r, Path out) throws java.io.IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (Parameter p : trainable.parameters()) if (p.grad() != null) w.addFloats("grad." + p.name(), p.grad(), p.shape());
        int width = r.examples().stream().mapToInt(TrainableModel.ExampleResult::mergedLength).max().orElse(0);
        long[] labels = new long[r.examples().size() * width];
        Arrays.fill(labels, -100);
        for (int b = 0; b < r.examples().size(); b++) {
            int[] l = r.examples().get(b).mergedLabels();
            for (int i = 0; i < l.length; i++) labels[b * width + i] = l[i];
        }
        w.addLongs("merged_labels", labels, r.examples().size(), width);
        if (out.getParent() != null) Files.createDirectories(out.getParent());
        w.write(out);
    }
}
