package io.instella.cli;

import io.instella.core.safetensors.Checkpoint;
import io.instella.hub.HubClient;
import io.instella.model.config.GenerationDefaults;
import io.instella.model.config.InstellaConfig;
import io.instella.model.source.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code instella info}: what a model is, without running it (and, for a repo id, without fetching its weights). */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show a model's configuration, size, image-token budget and files.",
                "For a repo id that is not downloaded yet, only its small config files",
                "are fetched (the parameter count is then computed from config.json)."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:shown", "1:an error (message on stderr)", "2:bad usage"})
public final class InfoCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", arity = "0..1", defaultValue = ModelRefs.DEFAULT_MODEL,
            description = "Model directory or Hugging Face repo id org/name[@revision] (default: ${DEFAULT-VALUE}).")
    String model;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ModelSource source = ModelSource.parse(model);
        Path dir;
        String where;
        if (source.isLocal()) {
            dir = source.localPath();
            where = dir.toAbsolutePath().toString();
        } else {
            try (HubClient hub = ModelSource.client()) {
                Optional<Path> complete = source.cached(ModelSource.Need.MODEL, hub);
                dir = complete.isPresent() ? complete.get() : source.resolve(ModelSource.Need.CONFIG, hub, ModelRefs.progress(err));
                where = dir + (complete.isPresent() ? "" : "  (weights not downloaded yet: instella download " + source.repo() + ")");
                out.printf("repository   %s on %s; cache %s%n", source.repo(), hub.endpoint(), hub.cacheDir());
            }
        }
        InstellaConfig c = InstellaConfig.load(dir);
        var t = c.text();
        out.printf("model        %s (%s)%n", model, c.modelType());
        out.printf("files        %s%n", where);
        if (hasWeights(dir)) {
            try (Checkpoint ck = Checkpoint.open(dir)) {
                long params = 0;
                for (String n : ck.names()) params += ck.get(n).numel();
                out.printf("parameters   %,d (%s, %.2f GB on disk)%n", params, ck.dominantDType(), ck.totalBytes() / 1e9);
            }
        } else {
            long params = ParameterCount.fromConfig(c);
            out.printf("parameters   %,d (from config.json; about %.2f GB in bf16)%n", params, params * 2 / 1e9);
        }
        out.printf("language     OLMo: %d layers, hidden %d, %d heads (%d kv), MLP %d, vocab %d%n",
                t.numLayers(), t.hiddenSize(), t.numHeads(), t.numKvHeads(), t.intermediateSize(), t.vocabSize());
        out.printf("context      %d tokens (prompt with image tokens, plus answer)%n", c.contextLength());
        if (c.hasVision()) {
            var mm = c.multimodal();
            var v = mm.vision();
            out.printf("vision       CLIP ViT: %d layers, hidden %d, %d heads, %dpx tiles of %dpx patches (config: %s)%n",
                    v.numLayers(), v.hiddenSize(), v.numHeads(), v.imageSize(), v.patchSize(), v.source());
            out.printf("projector    %s; select layer %d (%s); merge %s; aspect %s; %d grid pinpoints%n",
                    mm.projectorType(), mm.selectLayer(), mm.selectFeature(), mm.patchMergeType(), mm.imageAspectRatio(),
                    mm.gridPinpoints().size());
            int side = v.patchesPerSide();
            int max = side * side;
            for (int[] p : mm.gridPinpoints()) {
                int tokens = side * side + (p[1] / v.imageSize() * side) * (p[0] / v.imageSize() * side + 1);
                max = Math.max(max, tokens);
            }
            out.printf("image tokens %d per tile; up to %d per image (base tile + grid rows with newlines)%n", side * side, max);
        } else {
            out.printf("vision       none (text-only checkpoint)%n");
        }
        GenerationDefaults g = GenerationDefaults.load(dir, c);
        out.printf("generation   eos %s; %s%n", g.eosTokenIds(), g.doSample()
                ? String.format("samples at temperature %s, top-k %d, top-p %s", g.temperature(), g.topK(), g.topP())
                : "greedy by default (the upstream README samples at temperature 0.2: --temperature 0.2)");
        out.flush();
        return 0;
    }

    /** Whether the weights are there: one model.safetensors, or an index whose shards all exist. */
    private static boolean hasWeights(Path dir) {
        if (Files.isRegularFile(dir.resolve(ModelSource.SINGLE_WEIGHTS))) return true;
        if (!Files.isRegularFile(dir.resolve(ModelSource.WEIGHTS_INDEX))) return false;
        try (Checkpoint ignored = Checkpoint.open(dir)) {
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }
}
