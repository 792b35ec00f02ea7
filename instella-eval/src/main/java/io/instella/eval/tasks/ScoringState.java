package io.instella.eval.tasks;

import io.instella.eval.py.PyRandom;

import java.util.ArrayList;
import java.util.List;

/**
 * State shared by the per-sample scoring of one task run. Upstream's MMMU parser draws from Python's global
 * generator (seeded 0 at start-up and shared with everything else in the process), which cannot be replayed;
 * here each scoring run starts a fresh {@code random.seed(0)} stream consumed in document order.
 */
public final class ScoringState {
    private final PyRandom random = new PyRandom(0);
    private final List<String> notes = new ArrayList<>();

    public PyRandom random() {
        return random;
    }

    /** Records something a user should know about a sample (e.g. a random fallback). */
    public void note(String message) {
        notes.add(message);
    }

    public List<String> drainNotes() {
        List<String> out = List.copyOf(notes);
        notes.clear();
        return out;
    }
}
