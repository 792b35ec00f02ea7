package io.instella.eval.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.eval.metrics.ExactMatch;

import java.util.List;

/** {@code gqa} (tasks/gqa): short answer, registry exact_match with ignore_case and ignore_punctuation. */
public final class GqaTask extends EvalTask {
    static final String POST_PROMPT = "\nAnswer the question using a single word or phrase.";

    @Override public String name() { return "gqa"; }

    @Override public DatasetSpec dataset() {
        return new DatasetSpec("lmms-lab/GQA", "testdev_balanced_instructions", "testdev");
    }

    @Override public String docToText(JsonNode doc) {
        return Docs.format(doc, "question") + POST_PROMPT;
    }

    @Override public JsonNode docToTarget(JsonNode doc) {
        return Docs.get(doc, "answer");
    }

    @Override public ObjectNode generationKwargs() {
        return kwargs("max_new_tokens", 16, "temperature", 0.0, "top_p", 1.0, "num_beams", 1, "do_sample", false,
                "until", List.of("\n\n"));
    }

    @Override public ObjectNode specificKwargs() {
        return kwargs("pre_prompt", "", "post_prompt", POST_PROMPT);
    }

    @Override public ObjectNode processResults(ObjectNode doc, String response, ScoringState state) {
        String gold = Docs.text(doc, "answer");
        return JSON.objectNode().put("exact_match", ExactMatch.score(response, gold, true, true));
    }

    @Override public List<Metric> metrics() {
        return List.of(Metric.mean("exact_match"));
    }

    @Override public ExternalImages externalImages() {
        return new ExternalImages("testdev_balanced_images", "testdev", "id", "image", "imageId");
    }

    @Override public List<String> imageColumns(JsonNode doc) {
        return List.of();
    }

    @Override public TableEntry tableEntry() {
        return new TableEntry("GQA", "exact_match,none", 100);
    }
}
