package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.model.InstellaException;
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

/** {@code instella detokenize}: ids back to text. With {@code --input}, lines {"ids": […]} give {"text": "…"}. */
@Command(name = "detokenize", mixinStandardHelpOptions = true, description = "Decode token ids with the model's tokenizer.")
public final class DetokenizeCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "MODEL",
            description = "Model directory, a tokenizer.json file, or a Hugging Face repo id org/name[@revision] (only its tokenizer files are downloaded).")
    String model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @Option(names = "--ids", split = ",", description = "Comma-separated ids.")
        int[] ids;
        @Option(names = "--input", description = "JSON lines file, one {\"ids\": [...]} per line.")
        Path input;
    }

    @Option(names = "--skip-special-tokens", description = "Drop special tokens from the text.")
    boolean skipSpecial;

    @Option(names = "--json", description = "Print {\"text\": ...}.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        Tokenizer tok = TokenizeCommand.loadTokenizer(model, spec.commandLine().getErr());
        ObjectMapper m = new ObjectMapper();
        java.io.PrintWriter out = spec.commandLine().getOut();
        try {
            if (source.ids != null) {
                String text = decode(tok, source.ids, "--ids");
                out.println(json ? m.writeValueAsString(m.createObjectNode().put("text", text)) : text);
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
                    JsonNode a = n == null ? null : n.get("ids");
                    if (a == null || !a.isArray()) throw new InstellaException(source.input + ":" + lineNo + ": expected {\"ids\": [...]}");
                    int[] ids = new int[a.size()];
                    for (int i = 0; i < ids.length; i++) ids[i] = a.get(i).asInt();
                    out.println(m.writeValueAsString(m.createObjectNode().put("text", decode(tok, ids, source.input + ":" + lineNo))));
                }
            } catch (java.nio.file.NoSuchFileException e) {
                throw new InstellaException(source.input + ": input file not found");
            }
            return 0;
        } finally {
            out.flush();
        }
    }

    private String decode(Tokenizer tok, int[] ids, String where) {
        for (int id : ids) {
            if (id < 0 || id >= tok.vocabSize()) {
                throw new InstellaException(where + ": id " + id + " is not in the tokenizer's vocabulary (0.." + (tok.vocabSize() - 1) + ")");
            }
        }
        return tok.decode(ids, skipSpecial);
    }
}
