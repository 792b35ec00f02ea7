package io.instella.cli;

import io.instella.core.safetensors.Checkpoint;
import io.instella.model.config.InstellaConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code instella info}: what a checkpoint is, without running it. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show a model's configuration and size.")
public final class InfoCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Model directory.")
    Path model;

    @Override
    public Integer call() {
        InstellaConfig c = InstellaConfig.load(model);
        try (Checkpoint ck = Checkpoint.open(model)) {
            long params = 0;
            for (String n : ck.names()) params += ck.get(n).numel();
            var t = c.text();
            System.out.printf("model        %s (%s)%n", model.toAbsolutePath(), c.modelType());
            System.out.printf("parameters   %,d (%s, %.2f GB on disk)%n", params, ck.dominantDType(), ck.totalBytes() / 1e9);
            System.out.printf("language     OLMo: %d layers, hidden %d, %d heads (%d kv), MLP %d, vocab %d, context %d%n",
                    t.numLayers(), t.hiddenSize(), t.numHeads(), t.numKvHeads(), t.intermediateSize(), t.vocabSize(), c.contextLength());
            if (c.hasVision()) {
                var mm = c.multimodal();
                var v = mm.vision();
                System.out.printf("vision       CLIP ViT: %d layers, hidden %d, %d heads, %dpx tiles of %dpx patches (config: %s)%n",
                        v.numLayers(), v.hiddenSize(), v.numHeads(), v.imageSize(), v.patchSize(), v.source());
                System.out.printf("projector    %s; select layer %d (%s); merge %s; aspect %s; %d grid pinpoints%n",
                        mm.projectorType(), mm.selectLayer(), mm.selectFeature(), mm.patchMergeType(), mm.imageAspectRatio(),
                        mm.gridPinpoints().size());
                int max = 0;
                for (int[] p : mm.gridPinpoints()) {
                    int side = v.patchesPerSide();
                    int tokens = side * side + (p[1] / v.imageSize() * side) * (p[0] / v.imageSize() * side + 1);
                    max = Math.max(max, tokens);
                }
                System.out.printf("image tokens up to %d per image (576 base + grid rows with newlines)%n", max);
            }
        }
        return 0;
    }
}
