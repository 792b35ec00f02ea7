package io.instella.eval.golden;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.testing.Golden;
import io.instella.eval.score.Scorer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Reads the lmms-eval scoring vectors in shared/golden/eval (see its README.md). */
public final class GoldenEval {
    private GoldenEval() {}

    public static final ObjectMapper MAPPER = new ObjectMapper();

    public static Path dir() {
        return Golden.dir().resolve("eval");
    }

    /** Task names that have a cases file. */
    public static List<String> tasks() {
        try (Stream<Path> files = Files.list(dir())) {
            return files.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".cases.jsonl"))
                    .map(n -> n.substring(0, n.length() - ".cases.jsonl".length()))
                    .sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static List<JsonNode> cases(String task) {
        try {
            List<JsonNode> out = new ArrayList<>();
            for (String line : Files.readAllLines(dir().resolve(task + ".cases.jsonl"))) {
                if (!line.isBlank()) out.add(MAPPER.readTree(line));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static JsonNode aggregate(String task) {
        try {
            return MAPPER.readTree(dir().resolve(task + ".aggregate.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The scored rows of a case: the case itself, or its {@code rows} for MMBench CircularEval groups. */
    public static List<JsonNode> rows(JsonNode c) {
        List<JsonNode> out = new ArrayList<>();
        if (c.has("rows")) c.get("rows").forEach(out::add);
        else out.add(c);
        return out;
    }

    /** Cases by id. */
    public static Map<String, JsonNode> byId(List<JsonNode> cases) {
        Map<String, JsonNode> m = new LinkedHashMap<>();
        for (JsonNode c : cases) m.put(c.get("id").textValue(), c);
        return m;
    }

    /** The scorer inputs of a vector ({@code case_ids} into the cases file, or explicit {@code inputs}). */
    public static List<Scorer.Input> vectorInputs(JsonNode vector, Map<String, JsonNode> cases) {
        List<Scorer.Input> inputs = new ArrayList<>();
        if (vector.has("case_ids")) {
            for (JsonNode id : vector.get("case_ids")) {
                for (JsonNode row : rows(cases.get(id.textValue()))) {
                    inputs.add(new Scorer.Input((ObjectNode) row.get("doc"), row.get("prediction").textValue()));
                }
            }
        } else {
            for (JsonNode in : vector.get("inputs")) {
                inputs.add(new Scorer.Input((ObjectNode) in.get("doc"), in.get("prediction").textValue()));
            }
        }
        return inputs;
    }
}
