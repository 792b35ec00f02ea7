package io.instella.cli;

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
                "Exit codes: 0 success, 1 error (one line on stderr), 2 bad usage, 130 Ctrl-C.",
                "--verbose, on any command, adds the Java stack trace to an error (for bug reports)."},
        subcommands = {RunCommand.class, ChatCommand.class, DownloadCommand.class, InfoCommand.class,
                GenerateCommand.class, TokenizeCommand.class, DetokenizeCommand.class,
                InitRandomCommand.class, ServeCommand.class, BenchCommand.class, QuantizeCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Set by --verbose on any command (the option is inherited by every subcommand). */
    boolean verbose;

    @CommandLine.Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "On an error, also print its Java stack trace (for bug reports).")
    void setVerbose(boolean on) {
        verbose = on;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        // A failure on another thread (a download, a server worker) is reported in the same words, once.
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> {
            PrintWriter err = new Tty.SystemErr();
            Failures.report(e, "instella", err, verboseRequested(args));
        });
        System.exit(execute(args));
    }

    /** Runs the CLI in-process (tests use this) and returns the exit code. */
    public static int execute(String... args) {
        return execute(commandLine(), args);
    }

    /**
     * Runs {@code cl} (built by {@link #commandLine()}) on {@code args}. Every way out is one of the README's exit
     * codes: 0 success, 1 error, 2 bad usage (130, Ctrl-C, is the JVM's own on SIGINT). Errors that picocli does not
     * hand to its exception handler (OutOfMemoryError, StackOverflowError) are caught here.
     */
    static int execute(CommandLine cl, String... args) {
        try {
            int code = cl.execute(args);
            return code == 0 || code == 1 || code == 2 || code == 130 ? code : Failures.EXIT_ERROR;
        } catch (Throwable e) {
            Main main = cl.getCommandSpec().root().userObject() instanceof Main m ? m : null;
            boolean verbose = (main != null && main.verbose) || verboseRequested(args);
            return Failures.report(e, commandName(cl, args), cl.getErr(), verbose);
        }
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand("eval", new io.instella.eval.cli.EvalCommand(model -> io.instella.eval.run.InstellaEvalModel.open(
                ModelRefs.resolve(model, io.instella.model.source.ModelSource.Need.MODEL, cl.getErr()))));
        cl.addSubcommand("train", new io.instella.train.cli.TrainCommand());
        cl.setExecutionExceptionHandler(Main::handleFailure);
        cl.setParameterExceptionHandler(Main::handleUsageError);
        cl.setOut(new Tty.SystemOut());
        cl.setErr(new Tty.SystemErr());
        return cl;
    }

    /** A command failed: one line on stderr (the stack too with --verbose), exit code 1. */
    static int handleFailure(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        return Failures.report(e, cl.getCommandSpec().qualifiedName(), cl.getErr(), isVerbose(cl));
    }

    /** Bad usage (unknown option, bad value, missing argument): the problem, then where help is; exit code 2. */
    static int handleUsageError(CommandLine.ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("instella: error: " + e.getMessage());
        CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
        err.println("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for the options.");
        err.flush();
        return cl.getCommandSpec().exitCodeOnInvalidInput();
    }

    private static boolean isVerbose(CommandLine cl) {
        return cl.getCommandSpec().root().userObject() instanceof Main m && m.verbose;
    }

    /** --verbose among the arguments, for failures that happen before or outside parsing. */
    private static boolean verboseRequested(String[] args) {
        for (String a : args) {
            if (a.equals("--")) break;
            if (a.equals("--verbose")) return true;
        }
        return false;
    }

    /** "instella run" for {@code instella run ...}: the subcommand the arguments name, else "instella". */
    private static String commandName(CommandLine cl, String[] args) {
        CommandLine c = cl;
        for (String a : args) {
            CommandLine sub = c.getSubcommands().get(a);
            if (sub == null) break;
            c = sub;
        }
        return c.getCommandSpec().qualifiedName();
    }
}
