package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.model.InstellaException;
import io.instella.model.source.ModelSource;
import io.instella.model.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code instella tokenize}: text to ids with the model's tokenizer (no weights are loaded).
 * With {@code --input}, each line {"text": "…"} gives one line {"ids": […], "decoded": "…"}.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Encode text with the model's tokenizer.")
public final class TokenizeCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "MODEL",
            description = "Model directory, a tokenizer.json file, or a Hugging Face repo id org/name[@revision] (only its tokenizer files are downloaded).")
    String model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @Option(names = "--text", description = "Text to encode.")
        String text;
        @Option(names = "--input", description = "JSON lines file, one {\"text\": ...} per line.")
        Path input;
    }

    @Option(names = "--json", description = "Print {\"ids\": [...], \"decoded\": ...} (always so with --input).")
    boolean json;

    static Tokenizer loadTokenizer(String ref, java.io.PrintWriter err) {
        Path model = ModelRefs.resolve(ref, ModelSource.Need.TOKENIZER, err);
        Path file = Files.isDirectory(model) ? model.resolve("tokenizer.json") : model;
        if (!Files.isRegularFile(file)) throw new InstellaException(file + ": tokenizer.json not found");
        return Tokenizer.load(file);
    }

    @Override
    public Integer call() throws IOException {
        Tokenizer tok = loadTokenizer(model, spec.commandLine().getErr());
        ObjectMapper m = new ObjectMapper();
        java.io.PrintWriter out = spec.commandLine().getOut();
        try {
            if (source.text != null) {
                int[] ids = tok.encode(source.text);
                if (json) {
                    out.println(m.writeValueAsString(line(m, tok, ids)));
                } else {
                    StringBuilder sb = new StringBuilder();
                    for (int id : ids) sb.append(sb.isEmpty() ? "" : " ").append(id);
                    out.println(sb);
                }
                return 0;
            }
            InputFiles.requireRegularFile(source.input);
            try (BufferedReader r = Files.newBufferedReader(source.input, StandardCharsets.UTF_8)) {
                String s;
                int lineNo = 0;
                while ((s = r.readLine()) != null) {
                    lineNo++;
                    if (s.isBlank()) continue;
                    JsonNode n;
                    try {
                        n = m.readTree(s);
                    } catch (IOException e) {
                        throw new InstellaException(source.input + ":" + lineNo + ": not valid JSON");
                    }
                    if (n == null || !n.hasNonNull("text") || !n.get("text").isTextual()) {
                        throw new InstellaException(source.input + ":" + lineNo + ": expected {\"text\": \"...\"}");
                    }
                    out.println(m.writeValueAsString(line(m, tok, tok.encode(n.get("text").asText()))));
                }
            } catch (java.nio.file.NoSuchFileException e) {
                throw new InstellaException(source.input + ": input file not found");
            }
            return 0;
        } finally {
            out.flush();
        }
    }

    private static ObjectNode line(ObjectMapper m, Tokenizer tok, int[] ids) {
        ObjectNode o = m.createObjectNode();
        ArrayNode a = o.putArray("ids");
        for (int id : ids) a.add(id);
        o.put("decoded", tok.decode(ids, false));
        return o;
    }
}
