package io.instella.cli;

import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

/** Whether the process's standard streams are terminals, so that control characters (\r redraws) are welcome. */
final class Tty {
    private Tty() {}

    /** The stderr writer that {@link Main#commandLine()} installs: the real file descriptor 2. */
    static final class SystemErr extends PrintWriter {
        SystemErr() {
            super(new java.io.OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
        }
    }

    /** The stdout writer that {@link Main#commandLine()} installs: the real file descriptor 1. */
    static final class SystemOut extends PrintWriter {
        SystemOut() {
            super(new java.io.OutputStreamWriter(System.out, StandardCharsets.UTF_8), true);
        }
    }

    /** True when {@code err} is the process's stderr, that is a terminal, and TERM is not "dumb". */
    static boolean interactive(PrintWriter err) {
        return err instanceof SystemErr && isatty(2) && !"dumb".equals(System.getenv("TERM"));
    }

    /** True when stdin and stdout are both terminals (and {@code out} is the process's stdout). */
    static boolean interactiveSession(PrintWriter out) {
        return out instanceof SystemOut && isatty(0) && isatty(1);
    }

    static boolean isatty(int fd) {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle h = linker.downcallHandle(linker.defaultLookup().find("isatty").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) h.invokeExact(fd) == 1;
        } catch (Throwable e) {
            // No native access (or no libc isatty): the JDK can only say whether stdin and stdout are terminals.
            java.io.Console c = System.console();
            return c != null && c.isTerminal();
        }
    }

    /** A PrintStream view of a writer, for components that draw on a PrintStream (the download progress bar). */
    static PrintStream printStream(PrintWriter w) {
        if (w instanceof SystemErr) return System.err;
        OutputStream bytes = new OutputStream() {
            private final java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();

            @Override
            public void write(int b) { buf.write(b); }

            @Override
            public void write(byte[] b, int off, int len) { buf.write(b, off, len); }

            @Override
            public void flush() {
                w.write(buf.toString(StandardCharsets.UTF_8));
                buf.reset();
                w.flush();
            }
        };
        return new PrintStream(bytes, true, StandardCharsets.UTF_8);
    }
}
