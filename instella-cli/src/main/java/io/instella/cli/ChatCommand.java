package io.instella.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.api.Conversation;
import io.instella.api.FinishReason;
import io.instella.api.GenerateOptions;
import io.instella.api.Image;
import io.instella.api.InstellaApiException;
import io.instella.api.InstellaModel;
import io.instella.api.Response;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.completer.AggregateCompleter;
import org.jline.reader.impl.completer.ArgumentCompleter;
import org.jline.reader.impl.completer.NullCompleter;
import org.jline.reader.impl.completer.StringsCompleter;
import org.jline.builtins.Completers;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code instella chat}: an interactive multi-turn conversation. On a terminal it has line editing and history
 * (JLine); with stdin from a pipe or file it reads one line per input, so scripts and tests can drive it. Ctrl-C
 * during an answer stops that answer and returns to the prompt; Ctrl-C at the prompt or Ctrl-D (end of input) ends
 * the session. The key/value cache of earlier turns is reused, and each image is encoded once per conversation.
 */
@Command(name = "chat", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Chat with the model about images, turn after turn.",
                "At the prompt: /image PATH attaches an image to the next question, /reset",
                "starts a new conversation, /save FILE writes it as JSON, /help, /exit.",
                "Ctrl-C stops the answer being written; Ctrl-D or /exit quits.",
                "On a terminal: line editing and history (~/.instella_history); otherwise",
                "one question per line of stdin. Earlier turns are not recomputed."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:end of input or /exit", "1:an error (message on stderr)", "2:bad usage", "130:Ctrl-C at the prompt"})
public final class ChatCommand implements Callable<Integer> {
    static final String HELP = """
            /image PATH   attach an image to your next question (repeatable)
            /reset        start a new conversation (forget turns and images)
            /save FILE    write the conversation to FILE as JSON (messages with role, content, images)
            /help         this list
            /exit         quit (also /quit, /bye, Ctrl-D)
            Ctrl-C stops the answer being written; at the prompt it quits.""";

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    CommonOptions.Images images;

    @Option(names = "--system", paramLabel = "TEXT", description = "System instructions for the conversation.")
    String system;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    CommonOptions.Quiet quiet;

    private PrintWriter out;
    private PrintWriter err;
    private InstellaModel model;
    private Conversation conversation;
    private final List<Image> pending = new ArrayList<>();
    private final AtomicBoolean cancel = new AtomicBoolean();
    private volatile boolean generating;

    @Override
    public Integer call() throws IOException {
        out = spec.commandLine().getOut();
        err = spec.commandLine().getErr();
        GenerateOptions options = sampling.toOptions().withCancellation(cancel::get);
        for (Path p : images.checked()) pending.add(Image.fromPath(p));
        boolean interactive = Tty.interactiveSession(out);
        try (InstellaModel loaded = modelOptions.load(err, quiet.quiet); LineSource input = interactive ? new JLineSource() : new PlainSource()) {
            model = loaded;
            newConversation();
            if (!quiet.quiet) {
                err.printf("%s loaded in %.2f s (context %d tokens). Ask a question; /help lists the commands, Ctrl-D quits.%n",
                        model.name(), model.loadMillis() / 1000, model.contextLength());
                err.flush();
            }
            while (true) {
                String line;
                try {
                    line = input.readLine(">>> ");
                } catch (UserInterruptException e) {
                    return 130;
                }
                if (line == null) return 0;
                line = line.strip();
                if (line.isEmpty()) continue;
                if (line.startsWith("/")) {
                    if (!command(line)) return 0;
                    continue;
                }
                answer(line, options);
            }
        }
    }

    private void newConversation() {
        conversation = Conversation.create();
        if (system != null) conversation.system(system);
    }

    /** Runs a /command; false when the session should end. */
    private boolean command(String line) throws IOException {
        String[] parts = line.split("\\s+", 2);
        String arg = parts.length > 1 ? parts[1].strip() : "";
        switch (parts[0]) {
            case "/exit", "/quit", "/bye" -> {
                return false;
            }
            case "/help", "/?" -> info(HELP);
            case "/reset", "/clear" -> {
                newConversation();
                pending.clear();
                info("new conversation");
            }
            case "/image" -> {
                if (arg.isEmpty()) {
                    info("usage: /image PATH");
                    break;
                }
                try {
                    Image img = Image.fromPath(InputFiles.requireRegularFile(Path.of(unquote(arg))));
                    pending.add(img);
                    info(String.format("attached %s (%dx%d, %d image tokens) to your next question", img.name(), img.width(),
                            img.height(), model.supportsImages() ? model.imageTokens(img) : 0));
                } catch (InstellaApiException | io.instella.model.InstellaException e) {
                    error(e.getMessage());
                } catch (java.nio.file.InvalidPathException e) {
                    error("'" + arg + "' is not a valid file name");
                }
            }
            case "/save" -> {
                if (arg.isEmpty()) {
                    info("usage: /save FILE");
                    break;
                }
                Path file = Path.of(unquote(arg));
                try {
                    save(file);
                    info("saved " + conversation.turns().size() + " messages to " + file);
                } catch (IOException e) {
                    error("cannot write " + file + ": " + e.getMessage());
                }
            }
            default -> info("unknown command " + parts[0] + "; /help lists the commands");
        }
        return true;
    }

    private void answer(String question, GenerateOptions options) {
        List<Image> attached = List.copyOf(pending);
        pending.clear();
        conversation.user(question, attached);
        Response r;
        cancel.set(false);
        generating = true;
        try (PromptProgress progress = new PromptProgress(out, err, !quiet.quiet)) {
            r = model.generate(conversation, options, progress);
        } catch (InstellaApiException e) {
            conversation.removeLast();
            pending.addAll(0, attached);
            error(e.getMessage());
            return;
        } finally {
            generating = false;
        }
        out.println();
        out.flush();
        if (r.finishReason() == FinishReason.CANCELLED) {
            if (r.text().isBlank()) {
                // Nothing was said: forget the question, keep its images for the next one.
                conversation.removeLast();
                pending.addAll(0, attached);
            } else {
                conversation.assistant(r.text());
            }
            info("[answer stopped]");
        } else {
            conversation.assistant(r.text());
        }
        if (!quiet.quiet) info(Stats.turn(r));
    }

    /** The conversation as {"model", "messages": [{"role", "content", "images"?}]}; generate --messages reads it. */
    private void save(Path file) throws IOException {
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = json.createObjectNode();
        root.put("model", model.name());
        ArrayNode messages = root.putArray("messages");
        for (Conversation.Turn t : conversation.turns()) {
            ObjectNode m = messages.addObject();
            m.put("role", t.role().name().toLowerCase(java.util.Locale.ROOT));
            m.put("content", t.text());
            if (!t.images().isEmpty()) {
                ArrayNode imgs = m.putArray("images");
                for (Image i : t.images()) imgs.add(i.name());
            }
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Files.writeString(file, json.writeValueAsString(root) + "\n", StandardCharsets.UTF_8);
    }

    private static String unquote(String s) {
        if (s.length() >= 2 && (s.startsWith("\"") && s.endsWith("\"") || s.startsWith("'") && s.endsWith("'"))) {
            return s.substring(1, s.length() - 1);
        }
        return s;
    }

    private void info(String message) {
        err.println(message);
        err.flush();
    }

    private void error(String message) {
        err.println("error: " + message);
        err.flush();
    }

    /** Ctrl-C: stop the answer being written; when none is, end the process as an interrupt does. */
    private void interrupt(Runnable exit) {
        if (generating) cancel.set(true);
        else exit.run();
    }

    /** Where questions come from. */
    private interface LineSource extends AutoCloseable {
        /** The next line, or null at the end of input. */
        String readLine(String prompt) throws IOException;

        @Override
        void close() throws IOException;
    }

    /** stdin from a pipe or file: no prompt, no editing; SIGINT cancels an answer or ends the process. */
    private final class PlainSource implements LineSource {
        private final BufferedReader reader = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        private final sun.misc.Signal sigint = new sun.misc.Signal("INT");
        private final sun.misc.SignalHandler previous;

        PlainSource() {
            sun.misc.SignalHandler before = null;
            try {
                before = sun.misc.Signal.handle(sigint, s -> interrupt(() -> exitOnInterrupt(s)));
            } catch (IllegalArgumentException e) {
                // SIGINT is reserved (-Xrs) or unavailable: Ctrl-C keeps its default effect.
            }
            previous = before;
        }

        private void exitOnInterrupt(sun.misc.Signal s) {
            if (previous != null && previous != sun.misc.SignalHandler.SIG_DFL && previous != sun.misc.SignalHandler.SIG_IGN) {
                previous.handle(s);
            } else {
                System.exit(130);
            }
        }

        @Override
        public String readLine(String prompt) throws IOException {
            return reader.readLine();
        }

        @Override
        public void close() {
            if (previous != null) sun.misc.Signal.handle(sigint, previous);
        }
    }

    /** A terminal: JLine line editing, history and completion of the /commands and file names. */
    private final class JLineSource implements LineSource {
        private final Terminal terminal;
        private final LineReader reader;
        private final Terminal.SignalHandler previous;

        JLineSource() throws IOException {
            terminal = TerminalBuilder.builder().system(true).build();
            var files = new Completers.FileNameCompleter();
            reader = LineReaderBuilder.builder()
                    .terminal(terminal)
                    .appName("instella")
                    .variable(LineReader.HISTORY_FILE, Path.of(System.getProperty("user.home"), ".instella_history"))
                    .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true)
                    .completer(new AggregateCompleter(
                            new ArgumentCompleter(new StringsCompleter("/image", "/save"), files, NullCompleter.INSTANCE),
                            new ArgumentCompleter(new StringsCompleter("/reset", "/help", "/exit"), NullCompleter.INSTANCE)))
                    .build();
            // Outside readLine (which installs its own), Ctrl-C reaches this handler.
            previous = terminal.handle(Terminal.Signal.INT, s -> interrupt(() -> System.exit(130)));
        }

        @Override
        public String readLine(String prompt) {
            try {
                return reader.readLine(prompt);
            } catch (EndOfFileException e) {
                return null;
            }
        }

        @Override
        public void close() throws IOException {
            terminal.handle(Terminal.Signal.INT, previous);
            terminal.close();
        }
    }
}
