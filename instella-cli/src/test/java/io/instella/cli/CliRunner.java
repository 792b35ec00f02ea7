package io.instella.cli;

import picocli.CommandLine;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;

/** Runs the CLI in-process with captured stdout/stderr (and, optionally, a given stdin). */
record CliRunner(int exitCode, String out, String err) {
    static CliRunner run(String... args) {
        return run(Main.commandLine(), args);
    }

    /** Runs {@code cl} (from {@link Main#commandLine()}, perhaps with a test's own subcommand added) as main does. */
    static CliRunner run(CommandLine cl, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = Main.execute(cl, args);
        return new CliRunner(code, out.toString(), err.toString());
    }

    /** {@link #run} with {@code stdin} as the process's standard input for the duration of the command. */
    static synchronized CliRunner runWithStdin(String stdin, String... args) {
        InputStream saved = System.in;
        System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        try {
            return run(args);
        } finally {
            System.setIn(saved);
        }
    }
}
