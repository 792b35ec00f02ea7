package io.instella.eval.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.py.PyJson;
import io.instella.eval.score.Scorer;
import io.instella.eval.tasks.AggregationContext;
import io.instella.eval.tasks.EvalTask;
import io.instella.eval.tasks.Tasks;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code instella eval score --task T --predictions FILE.jsonl [--json]}: re-scores saved predictions without a
 * model. Each input line is a JSON object with at least {@code doc} (the dataset row's fields, images omitted)
 * and {@code prediction} (the model's raw output); other keys are ignored. With {@code --json}: one line
 * {@code {"prompt": ..., "result": ...}} per input line, in order, then {@code {"aggregate": {...}}}.
 */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Re-score saved predictions of one lmms-eval task (no model needed).")
public final class ScoreCommand implements Callable<Integer> {
    static final int EXIT_BAD_INPUT = 2;

    @Spec
    CommandSpec spec;

    @Option(names = "--task", required = true, paramLabel = "TASK",
            description = "lmms-eval task name: gqa, scienceqa_img, pope, mmbench_en_dev, seedbench, mmmu_val, realworldqa, "
                    + "mmstar, ocrbench, textvqa_val, ai2d, chartqa, docvqa_val, infovqa_val")
    String task;

    @Option(names = "--predictions", required = true, paramLabel = "FILE.jsonl",
            description = "One JSON object per line with 'doc' and 'prediction'.")
    Path predictions;

    @Option(names = "--json", description = "Print per-sample prompt and result, then the aggregate, as JSON lines.")
    boolean json;

    @Option(names = "--emulate-world-size", paramLabel = "N", defaultValue = "1",
            description = "Score as an lmms-eval run with N processes would (filters read the wrong document for "
                    + "RealWorldQA when N > 1; Instella's published numbers used 8). Default: ${DEFAULT-VALUE}.")
    int worldSize;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        EvalTask evalTask;
        try {
            evalTask = Tasks.byName(task);
        } catch (IllegalArgumentException e) {
            err.println("instella: error: " + e.getMessage());
            err.flush();
            return EXIT_BAD_INPUT;
        }
        if (worldSize < 1) {
            err.println("instella: error: --emulate-world-size must be at least 1, got " + worldSize);
            err.flush();
            return EXIT_BAD_INPUT;
        }
        List<Scorer.Input> inputs = new ArrayList<>();
        List<Integer> lineNumbers = new ArrayList<>();
        try {
            readInputs(predictions, inputs, lineNumbers);
        } catch (BadInput e) {
            err.println("instella: error: " + predictions + ": " + e.getMessage());
            err.flush();
            return EXIT_BAD_INPUT;
        }
        if (inputs.isEmpty()) {
            err.println("instella: error: " + predictions + ": no predictions (the file has no JSON lines)");
            err.flush();
            return EXIT_BAD_INPUT;
        }
        Scorer.Result result;
        try {
            result = Scorer.score(evalTask, inputs, worldSize, AggregationContext.noFiles());
        } catch (Scorer.InputError e) {
            err.println("instella: error: " + predictions + ": line " + lineNumbers.get(e.index()) + ": " + task + ": " + e.getMessage());
            err.flush();
            return EXIT_BAD_INPUT;
        }
        for (String note : result.notes()) err.println("note: " + note);
        if (json) {
            for (Scorer.Sample s : result.samples()) {
                ObjectNode line = JsonNodeFactory.instance.objectNode();
                line.put("prompt", s.prompt());
                line.set("result", s.result());
                out.println(PyJson.dumps(line));
            }
            ObjectNode last = JsonNodeFactory.instance.objectNode();
            last.set("aggregate", result.aggregate());
            out.println(PyJson.dumps(last));
        } else {
            printSummary(out, evalTask, result);
        }
        out.flush();
        err.flush();
        return 0;
    }

    private static void printSummary(PrintWriter out, EvalTask task, Scorer.Result result) {
        out.println(task.name() + ": " + result.samples().size() + " samples");
        result.aggregate().properties().forEach(e -> {
            if (!e.getKey().contains("_stderr,")) out.println("  " + e.getKey() + " = " + PyJson.dumps(e.getValue()));
        });
        EvalTask.TableEntry t = task.tableEntry();
        JsonNode v = result.aggregate().get(t.metricKey());
        if (v != null && v.isNumber()) {
            out.println("  table " + t.column() + ": " + String.format(Locale.ROOT, "%.2f", v.doubleValue() * t.scale()));
        }
    }

    private static final class BadInput extends Exception {
        BadInput(String message) {
            super(message);
        }
    }

    private static void readInputs(Path file, List<Scorer.Input> inputs, List<Integer> lineNumbers) throws BadInput {
        // A device never ends and a FIFO without a writer never answers: read regular files only.
        if (Files.isDirectory(file)) throw new BadInput("is a directory, not a file");
        if (Files.exists(file) && !Files.isRegularFile(file)) throw new BadInput("not a regular file (a device, FIFO or socket)");
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new BadInput("file not found");
        } catch (MalformedInputException e) {
            throw new BadInput("not valid UTF-8 text");
        } catch (IOException e) {
            throw new BadInput("cannot read: " + e.getMessage());
        }
        ObjectMapper mapper = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            String text = lines.get(i);
            int lineNo = i + 1;
            if (text.isBlank()) continue;
            JsonNode node;
            try {
                node = mapper.readTree(text);
            } catch (JsonProcessingException e) {
                throw new BadInput("line " + lineNo + ": not valid JSON (" + e.getOriginalMessage() + ")");
            }
            if (node == null || !node.isObject()) {
                throw new BadInput("line " + lineNo + ": expected a JSON object with 'doc' and 'prediction'");
            }
            JsonNode doc = node.get("doc");
            if (doc == null) throw new BadInput("line " + lineNo + ": missing field 'doc'");
            if (!doc.isObject()) throw new BadInput("line " + lineNo + ": 'doc' must be a JSON object");
            JsonNode prediction = node.get("prediction");
            if (prediction == null) throw new BadInput("line " + lineNo + ": missing field 'prediction'");
            if (!prediction.isTextual()) throw new BadInput("line " + lineNo + ": 'prediction' must be a string");
            inputs.add(new Scorer.Input((ObjectNode) doc, prediction.textValue()));
            lineNumbers.add(lineNo);
        }
    }
}
