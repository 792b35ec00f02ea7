package io.instella.eval.run;

import java.util.ArrayList;
import java.util.List;

/**
 * A TEST DOUBLE for the runner's bookkeeping, not a model: answers by fixed rules from the context text so that
 * runs are deterministic and scores are non-trivial. It records every call, and can be told to fail after a
 * number of calls to emulate a crash mid-run.
 */
final class RuleBasedAnswerer implements EvalModel {
    record Call(String context, int images, GenerationSettings settings) {}

    final List<Call> calls = new ArrayList<>();
    private final int failAfter;

    RuleBasedAnswerer() {
        this(Integer.MAX_VALUE);
    }

    RuleBasedAnswerer(int failAfter) {
        this.failAfter = failAfter;
    }

    @Override
    public String generate(String context, List<byte[]> encodedImages, GenerationSettings settings) {
        if (calls.size() >= failAfter) throw new SimulatedCrash("simulated crash after " + failAfter + " documents");
        calls.add(new Call(context, encodedImages.size(), settings));
        if (context.contains("option's letter")) return context.length() % 2 == 0 ? "A" : "B.";
        if (context.startsWith("Is ") || context.contains("Is there")) return "Yes";
        if (context.contains("single word")) return "Blue";
        return "blue";
    }

    static final class SimulatedCrash extends RuntimeException {
        SimulatedCrash(String message) {
            super(message);
        }
    }
}
