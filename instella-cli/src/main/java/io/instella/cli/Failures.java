package io.instella.cli;

import io.instella.api.InstellaApiException;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.hub.HubException;
import io.instella.model.InstellaException;
import io.instella.model.config.ConfigException;
import io.instella.model.image.ImageDecodeException;
import io.instella.model.tokenizer.TokenizerException;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.util.Locale;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * What the user sees when a command fails: one line "instella: error: ..." on stderr and exit code 1, whatever was
 * thrown. The project's own exceptions carry messages written for users; anything else is a bug and is described
 * without JDK class names. The stack trace is printed only with {@code --verbose}.
 */
final class Failures {
    /** Exit code of every failure that is not a usage error. */
    static final int EXIT_ERROR = 1;

    private Failures() {}

    /** Prints {@code failure} for {@code command} ("instella run") and returns the exit code, 1. */
    static int report(Throwable failure, String command, PrintWriter err, boolean verbose) {
        try {
            // One line, whatever the message holds.
            err.println("instella: error: " + message(failure, command).strip().replaceAll("\\s*\\R\\s*", " "));
            if (verbose) failure.printStackTrace(err);
            err.flush();
        } catch (Throwable ignored) {
            // Nothing more can be said (stderr closed, or memory still exhausted): the exit code still tells.
        }
        return EXIT_ERROR;
    }

    /** The one-line description of {@code failure}. */
    static String message(Throwable failure, String command) {
        Throwable e = unwrap(failure);
        OutOfMemoryError oom = find(failure, OutOfMemoryError.class);
        if (oom != null) return outOfMemory(oom);
        if (find(failure, StackOverflowError.class) != null) {
            return command + " ran out of stack (the input is nested too deeply, or this is a bug); "
                    + "INSTELLA_JAVA_OPTS=-Xss64m gives it more";
        }
        if (e instanceof UncheckedIOException u && u.getCause() != null
                && (u.getMessage() == null || u.getMessage().equals(u.getCause().toString()))) {
            e = u.getCause();
        }
        if (e instanceof java.io.IOException io) return describe(io);
        String text = e.getMessage();
        if (isUserError(e) && text != null && !text.isBlank()) return text;
        if (writtenForUsers(e) && text != null && !text.isBlank()) return text;
        String where = stage(e);
        return "unexpected internal error in '" + command + "'" + (where.isEmpty() ? "" : " " + where) + " (" + kind(e)
                + "); " + (where.isEmpty() ? "" : "check that file, then ")
                + "please report it with the command line and the output of --verbose (this is a bug in instella)";
    }

    static boolean isUserError(Throwable e) {
        return e instanceof InstellaException || e instanceof InstellaApiException || e instanceof HubException
                || e instanceof ConfigException || e instanceof SafeTensorsException
                || e instanceof TokenizerException || e instanceof ImageDecodeException
                || e instanceof UncheckedIOException || e instanceof java.io.IOException
                // instella train: a data problem (--strict-data, unreadable data) or an unusable checkpoint
                || e instanceof io.instella.train.data.DataException
                || e instanceof io.instella.train.checkpoint.CheckpointException;
    }

    /**
     * An argument or state check of the project's own code ({@code throw new IllegalArgumentException("...")}): its
     * message names the problem. The same exception thrown by the JDK or a library describes internals instead.
     */
    private static boolean writtenForUsers(Throwable e) {
        if (!(e instanceof IllegalArgumentException || e instanceof IllegalStateException
                || e instanceof UnsupportedOperationException)) {
            return false;
        }
        if (e instanceof NumberFormatException) return false;
        StackTraceElement[] trace = e.getStackTrace();
        return trace.length > 0 && trace[0].getClassName().startsWith("io.instella.");
    }

    /** An I/O failure in words: the file and what went wrong, without the exception's class name. */
    private static String describe(java.io.IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException f) return f.getFile() + ": file not found";
        if (e instanceof java.nio.file.AccessDeniedException f) return f.getFile() + ": permission denied";
        if (e instanceof java.nio.file.FileAlreadyExistsException f) return f.getFile() + ": already exists";
        if (e instanceof java.nio.file.NotDirectoryException f) return f.getFile() + ": not a directory";
        if (e instanceof java.nio.file.DirectoryNotEmptyException f) return f.getFile() + ": directory not empty";
        if (e instanceof java.nio.file.FileSystemException f) {
            return f.getFile() + ": " + (f.getReason() != null ? f.getReason() : "cannot be read or written");
        }
        String text = e.getMessage();
        return "input/output error" + (text != null && !text.isBlank() ? ": " + text : "");
    }

    private static String outOfMemory(OutOfMemoryError oom) {
        String what = oom.getMessage() == null ? "" : oom.getMessage().toLowerCase(Locale.ROOT);
        if (what.contains("native thread")) {
            return "out of memory: the system refused another thread; use fewer --threads or raise the process limit (ulimit -u)";
        }
        long maxBytes = Runtime.getRuntime().maxMemory();
        long suggestGb = Math.max(4, (long) Math.ceil(2.0 * maxBytes / (1L << 30)));
        String limit = maxBytes == Long.MAX_VALUE ? "" : String.format(Locale.ROOT, " (now %.1f GB)", maxBytes / (double) (1L << 30));
        return "out of memory: the Java heap limit" + limit + " is too small for this; give Java more, e.g. INSTELLA_JAVA_OPTS=-Xmx"
                + suggestGb + "g, or use a smaller --ctx or --quant q4_0";
    }

    /** What instella was doing, in the user's terms, from where in its own code {@code e} was thrown. */
    private static String stage(Throwable e) {
        for (StackTraceElement f : e.getStackTrace()) {
            String c = f.getClassName();
            if (!c.startsWith("io.instella.")) continue;
            if (c.startsWith("io.instella.model.config.")) return "while reading the model's config.json / generation_config.json";
            if (c.startsWith("io.instella.model.tokenizer.")) return "while reading the tokenizer (tokenizer.json)";
            if (c.startsWith("io.instella.core.safetensors.")) return "while reading the weights (.safetensors)";
            if (c.startsWith("io.instella.model.image.")) return "while decoding an image";
            return "";
        }
        return "";
    }

    /** A plain-words kind of a bug, without the JDK's class names. */
    private static String kind(Throwable e) {
        if (e instanceof NullPointerException) return "a value was missing";
        if (e instanceof IndexOutOfBoundsException || e instanceof NegativeArraySizeException) return "an index or size out of range";
        if (e instanceof ClassCastException) return "a value of the wrong type";
        if (e instanceof ArithmeticException) return "a number out of range";
        if (e instanceof NumberFormatException) return "a malformed number";
        if (e instanceof IllegalArgumentException || e instanceof IllegalStateException) return "an inconsistent value";
        if (e instanceof StackOverflowError) return "too deeply nested";
        if (e instanceof Error) return "a failure of the Java runtime";
        return "an unexpected condition";
    }

    /** Strips the wrappers that only say "something inside failed" (picocli's, futures', reflection's). */
    static Throwable unwrap(Throwable e) {
        Throwable t = e;
        for (int i = 0; i < 10 && t.getCause() != null; i++) {
            if (t instanceof picocli.CommandLine.ExecutionException || t instanceof CompletionException
                    || t instanceof ExecutionException || t instanceof InvocationTargetException
                    || (t instanceof RuntimeException && t.getClass() == RuntimeException.class && isUserError(t.getCause()))) {
                t = t.getCause();
            } else {
                break;
            }
        }
        return t;
    }

    /** The first {@code type} in the cause chain of {@code e}, or null. */
    private static <T extends Throwable> T find(Throwable e, Class<T> type) {
        Throwable t = e;
        for (int i = 0; i < 20 && t != null; i++, t = t.getCause()) {
            if (type.isInstance(t)) return type.cast(t);
        }
        return null;
    }
}
