package io.instella.cli;

import io.instella.api.InstellaApiException;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.hub.HubException;
import io.instella.model.InstellaException;
import io.instella.model.config.ConfigException;
import io.instella.model.image.ImageDecodeException;
import io.instella.model.tokenizer.TokenizerException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code instella} command. */
@Command(name = "instella", mixinStandardHelpOptions = true, version = "instella 0.1.0",
        description = "Instella-VL-1B vision-language model on the JVM.",
        footerHeading = "%nExamples:%n",
        footer = {"  instella run --image examples/shapes.png \"Describe this image.\"",
                "  instella chat --model amd/Instella-VL-1B --image photo.jpg",
                "  instella download amd/Instella-VL-1B",
                "  instella info amd/Instella-VL-1B",
                "",
                "--model takes a local directory or a Hugging Face repo id, org/name[@revision]",
                "(default amd/Instella-VL-1B). Files go to the Hugging Face cache (HF_HOME,",
                "HF_HUB_CACHE); HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE=1 are honoured.",
                "",
                "Exit codes: 0 success, 1 error (one line on stderr), 2 bad usage, 130 Ctrl-C."},
        subcommands = {RunCommand.class, ChatCommand.class, DownloadCommand.class, InfoCommand.class,
                GenerateCommand.class, TokenizeCommand.class, DetokenizeCommand.class,
                InitRandomCommand.class, ServeCommand.class, BenchCommand.class, QuantizeCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the CLI in-process (tests use this) and returns the exit code. */
    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand("eval", new io.instella.eval.cli.EvalCommand(model -> io.instella.eval.run.InstellaEvalModel.open(
                ModelRefs.resolve(model, io.instella.model.source.ModelSource.Need.MODEL, cl.getErr()))));
        cl.setExecutionExceptionHandler(Main::handle);
        cl.setOut(new Tty.SystemOut());
        cl.setErr(new Tty.SystemErr());
        return cl;
    }

    /** User-facing failures print one clear line on stderr; anything else is a bug and keeps its trace. */
    static int handle(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        if (isUserError(e)) {
            err.println("instella: error: " + e.getMessage());
            err.flush();
            return 1;
        }
        if (e instanceof IllegalArgumentException) {
            err.println("instella: error: " + e.getMessage());
            err.flush();
            return 2;
        }
        err.println("instella: internal error (please report): " + e);
        e.printStackTrace(err);
        err.flush();
        return 70;
    }

    static boolean isUserError(Throwable e) {
        return e instanceof InstellaException || e instanceof InstellaApiException || e instanceof HubException
                || e instanceof ConfigException || e instanceof SafeTensorsException
                || e instanceof TokenizerException || e instanceof ImageDecodeException
                || e instanceof java.io.UncheckedIOException || e instanceof java.io.IOException;
    }
}
