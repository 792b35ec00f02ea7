package io.instella.eval.tasks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What an aggregation may do besides returning a number: write the side files lmms-eval writes under
 * {@code <output>/submissions/} or {@code <output>/results/} (skipped when there is no output directory),
 * and leave notes for the user (e.g. how many MMBench answers were drawn at random).
 */
public final class AggregationContext {
    private final Path outputDir;
    private final List<String> notes = new ArrayList<>();

    public AggregationContext(Path outputDir) {
        this.outputDir = outputDir;
    }

    /** A context that writes no files. */
    public static AggregationContext noFiles() {
        return new AggregationContext(null);
    }

    /** Writes {@code <output>/<subpath>/<fileName>} when an output directory is set. */
    public void writeSideFile(String subpath, String fileName, String content) {
        if (outputDir == null) return;
        try {
            Path dir = outputDir.resolve(subpath);
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(fileName), content, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("could not write " + subpath + "/" + fileName + " under " + outputDir, e);
        }
    }

    public void note(String message) {
        notes.add(message);
    }

    public List<String> notes() {
        return List.copyOf(notes);
    }
}
