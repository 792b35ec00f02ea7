package io.instella.eval.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code instella eval}: lmms-eval benchmarks. Subcommand {@code score} re-scores saved predictions. */
@Command(name = "eval", mixinStandardHelpOptions = true, subcommands = {ScoreCommand.class},
        description = "Evaluate on the lmms-eval benchmarks of the Instella-VL-1B table.")
public final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (try 'eval score --help')");
    }
}
