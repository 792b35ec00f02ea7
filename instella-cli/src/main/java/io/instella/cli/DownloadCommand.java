package io.instella.cli;

import io.instella.model.source.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code instella download}: fetch a model's files into the Hugging Face cache and print where they are. */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = {"Download a model's files into the Hugging Face cache; print the folder.",
                "The cache is laid out as huggingface_hub lays it out, so Python tools share it. Only what",
                "instella reads is fetched: config.json, generation_config.json, preprocessor_config.json,",
                "chat_template.json, the tokenizer files and the safetensors weights (for",
                "amd/Instella-VL-1B: about 3 GB). Interrupted downloads resume.",
                "Honours HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:downloaded (or already cached)", "1:an error (message on stderr)", "2:bad usage"})
public final class DownloadCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", arity = "0..1", defaultValue = ModelRefs.DEFAULT_MODEL,
            description = "Hugging Face repo id org/name[@revision] (default: ${DEFAULT-VALUE}).")
    String model;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        ModelSource source = ModelSource.parse(model);
        if (source.isLocal()) {
            err.println(model + " is a local directory; nothing to download");
            spec.commandLine().getOut().println(source.localPath().toAbsolutePath());
            return 0;
        }
        long t0 = System.nanoTime();
        Path dir = source.resolve(ModelSource.Need.MODEL, ModelRefs.progress(err));
        long bytes = 0;
        int files = 0;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) {
                    files++;
                    bytes += Files.size(p);
                }
            }
        }
        err.printf(Locale.ROOT, "%s: %d files, %.2f GB in %s (%.1f s)%n", source.repo(), files, bytes / 1e9, dir,
                (System.nanoTime() - t0) / 1e9);
        spec.commandLine().getOut().println(dir);
        return 0;
    }

}
