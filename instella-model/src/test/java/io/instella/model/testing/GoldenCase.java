package io.instella.model.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.testing.Golden;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** One case of the golden set: case.json plus tensors.safetensors. */
public record GoldenCase(String name, Path dir, JsonNode json) {

    public static List<GoldenCase> all() {
        Path cases = Golden.resolve("cases");
        List<GoldenCase> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(cases)) {
            for (Path d : s.sorted().toList()) {
                out.add(new GoldenCase(d.getFileName().toString(), d, new ObjectMapper().readTree(d.resolve("case.json").toFile())));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public SafeTensorsFile tensors() {
        return SafeTensorsFile.open(dir.resolve("tensors.safetensors"));
    }

    public String image() {
        JsonNode i = json.get("image");
        return i == null || i.isNull() ? null : i.asText();
    }

    public int[] inputIds() { return ints(json.get("input_ids")); }

    public int[] greedyIds() { return ints(json.get("greedy_ids")); }

    public double[] margins() {
        JsonNode a = json.get("greedy_top1_minus_top2_margin");
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asDouble();
        return out;
    }

    /** Number of leading greedy steps that are robust: up to and including the first step whose margin is < 1e-2. */
    public int robustGreedySteps() {
        double[] m = margins();
        for (int i = 0; i < m.length; i++) if (m[i] < 1e-2) return i + 1;
        return m.length;
    }

    public static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    public static Path modelDir() { return Golden.resolve("model"); }

    @Override
    public String toString() { return name; }
}
