package io.instella.cli;

import io.instella.core.safetensors.SafeTensorsException;
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
        subcommands = {GenerateCommand.class, TokenizeCommand.class, DetokenizeCommand.class,
                InitRandomCommand.class, InfoCommand.class, BenchCommand.class, QuantizeCommand.class, CommandLine.HelpCommand.class})
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
        cl.setExecutionExceptionHandler(Main::handle);
        cl.setOut(new PrintWriter(new java.io.OutputStreamWriter(System.out, java.nio.charset.StandardCharsets.UTF_8), true));
        cl.setErr(new PrintWriter(new java.io.OutputStreamWriter(System.err, java.nio.charset.StandardCharsets.UTF_8), true));
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
        return e instanceof InstellaException || e instanceof ConfigException || e instanceof SafeTensorsException
                || e instanceof TokenizerException || e instanceof ImageDecodeException
                || e instanceof java.io.UncheckedIOException || e instanceof java.io.IOException;
    }
}
