package io.instella.cli;

import io.instella.hub.ConsoleProgressBar;
import io.instella.hub.DownloadListener;
import io.instella.model.source.ModelSource;

import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * What {@code --model} accepts in every command: a local directory (it wins if it exists) or a Hugging Face repo id
 * ({@code org/name[@revision]}) downloaded into the standard Hugging Face cache, with a progress bar on stderr.
 */
final class ModelRefs {
    /** The model the README's commands use when --model is left out. */
    static final String DEFAULT_MODEL = "amd/Instella-VL-1B";

    static final String MODEL_HELP = "Model directory (Hugging Face layout) or Hugging Face repo id org/name[@revision], "
            + "downloaded into the Hugging Face cache (HF_HOME) on first use.";

    private ModelRefs() {}

    /** A local directory for {@code ref}, downloading what {@code need} asks for when it is a repo id. */
    static Path resolve(String ref, ModelSource.Need need, PrintWriter err) {
        return ModelSource.parse(ref).resolve(need, progress(err));
    }

    /** Download progress on the command's stderr: redrawn in place on a terminal, a line every 10 s otherwise. */
    static DownloadListener progress(PrintWriter err) {
        return new ConsoleProgressBar(Tty.printStream(err), Tty.interactive(err));
    }
}
