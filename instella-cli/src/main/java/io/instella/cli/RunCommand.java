package io.instella.cli;

import io.instella.api.Conversation;
import io.instella.api.Image;
import io.instella.api.InstellaModel;
import io.instella.api.Response;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code instella run}: one question (about images), the answer streamed to stdout, timings on stderr. */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Answer one question, optionally about images, streamed to stdout.",
                "The model is downloaded into the Hugging Face cache on first use.",
                "Progress and timings go to stderr; the answer alone goes to stdout.",
                "Example:",
                "  instella run --model amd/Instella-VL-1B --image examples/shapes.png \\",
                "      \"Describe this image.\""},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:answered", "1:an error (message on stderr)", "2:bad usage", "130:interrupted (Ctrl-C)"})
public final class RunCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    CommonOptions.Images images;

    @Option(names = "--system", paramLabel = "TEXT", description = "System instructions, put before the question.")
    String system;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    CommonOptions.Quiet quiet;

    @Parameters(paramLabel = "QUESTION", arity = "0..*",
            description = "The question (several words are joined with spaces). Without it, the question is read from stdin.")
    List<String> words = new ArrayList<>();

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String question = question();
        var options = sampling.toOptions();
        List<Image> decoded = new ArrayList<>();
        for (Path p : images.checked()) decoded.add(Image.fromPath(p));
        try (InstellaModel model = modelOptions.load(err, quiet.quiet)) {
            Conversation chat = Conversation.create();
            if (system != null) chat.system(system);
            chat.user(question, decoded);
            Response r;
            try (PromptProgress progress = new PromptProgress(out, err, !quiet.quiet)) {
                r = model.generate(chat, options, progress);
            }
            out.println();
            out.flush();
            if (!quiet.quiet) {
                err.println(Stats.full(model.loadMillis(), r));
                err.flush();
            }
            return 0;
        }
    }

    /** The longest question read from stdin: far beyond any context (32768 tokens are ~150 KB of text). */
    static final int MAX_STDIN_BYTES = 16 << 20;

    private String question() throws IOException {
        if (!words.isEmpty()) return String.join(" ", words);
        if (Tty.isatty(0)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "Missing QUESTION: give it as an argument, e.g. instella run --image photo.jpg \"What is this?\", or on stdin");
        }
        // A question is text: more than this is a mistake (run < /dev/zero, a binary file), not a prompt to read whole.
        byte[] bytes = System.in.readNBytes(MAX_STDIN_BYTES + 1);
        if (bytes.length > MAX_STDIN_BYTES) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "QUESTION on stdin is longer than "
                    + (MAX_STDIN_BYTES >> 20) + " MiB; a question is text (was a binary file or device given as stdin?)");
        }
        String text = new String(bytes, StandardCharsets.UTF_8).strip();
        if (text.isEmpty()) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing QUESTION: stdin was empty");
        }
        return text;
    }
}
