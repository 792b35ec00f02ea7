package io.instella.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.testing.Golden;
import io.instella.model.lora.LoraAdapter;
import io.instella.train.cli.TrainCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Whole runs of `instella train` on the golden tiny model: it learns, resumes bit-identically, and saves LoRA adapters. */
class TrainingRunTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Run(int exit, List<JsonNode> steps, List<JsonNode> evals, String err) {}

    static Run train(String... args) throws IOException {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(new TrainCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        List<JsonNode> steps = new ArrayList<>(), evals = new ArrayList<>();
        for (String line : out.toString().lines().toList()) {
            JsonNode n = JSON.readTree(line);
            (n.has("eval_loss") ? evals : steps).add(n);
        }
        return new Run(exit, steps, evals, err.toString());
    }

    static List<String> common(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("--model", Golden.resolve("model").toString(),
                "--data", Golden.resolve("train/examples.json").toString(), "--image-folder", Golden.resolve("images").toString(),
                "--image-aspect-ratio", "square", "--mm-patch-merge-type", "flat", "--output-dir", out.toString(), "--json"));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void aTinyModelOverfitsFourRecords(@TempDir Path tmp) throws IOException {
        Run run = train(common(tmp.resolve("out"), "--mm-tunable-parts", "mm_mlp_adapter,mm_language_model", "--learning-rate", "3e-3",
                "--lr-scheduler-type", "constant", "--max-steps", "8", "--per-device-train-batch-size", "4",
                "--eval-data", Golden.resolve("train/examples.json").toString(), "--eval-steps", "4").toArray(String[]::new));
        assertThat(run.exit()).as(run.err()).isZero();
        double first = run.steps().getFirst().get("loss").asDouble(), last = run.steps().getLast().get("loss").asDouble();
        assertThat(run.steps()).hasSize(8);
        assertThat(last).as("loss after 8 steps, from " + first).isLessThan(first / 4);
        // Eval loss on the same records every 4 steps: falling too (it is the training set here).
        assertThat(run.evals()).hasSize(2);
        assertThat(run.evals().get(1).get("step").asInt()).isEqualTo(8);
        assertThat(run.evals().get(1).get("eval_loss").asDouble()).isLessThan(run.evals().get(0).get("eval_loss").asDouble());
        // The final model is a complete checkpoint in HF layout with the run's image settings.
        JsonNode config = JSON.readTree(tmp.resolve("out/config.json").toFile());
        assertThat(config.get("image_aspect_ratio").asText()).isEqualTo("square");
        assertThat(config.get("mm_patch_merge_type").asText()).isEqualTo("flat");
        try (var model = io.instella.model.InstellaVL.load(tmp.resolve("out"))) {
            assertThat(model.supportsImages()).isTrue();
        }
        assertThat(tmp.resolve("out/loss_curve.png")).doesNotExist(); // drawn at saves; this run saved no checkpoint
    }

    @Test
    void aResumedRunContinuesBitIdentically(@TempDir Path tmp) throws IOException {
        // LoRA with dropout (seeded per step) and the projector trained in full; shuffling from the seed; accumulation.
        String[] flags = {"--mm-tunable-parts", "mm_mlp_adapter", "--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0.1",
                "--learning-rate", "2e-3", "--max-steps", "6", "--per-device-train-batch-size", "1", "--gradient-accumulation-steps", "2",
                "--save-steps", "3", "--save-dtype", "f32", "--seed", "7"};
        Run whole = train(common(tmp.resolve("whole"), flags).toArray(String[]::new));
        assertThat(whole.exit()).as(whole.err()).isZero();
        List<String> first = common(tmp.resolve("split"), flags);
        first.addAll(List.of("--stop-after-steps", "3"));
        Run part1 = train(first.toArray(String[]::new));
        assertThat(part1.exit()).as(part1.err()).isZero();
        assertThat(part1.steps()).hasSize(3);
        List<String> second = common(tmp.resolve("split"), flags);
        second.addAll(List.of("--resume-from-checkpoint", "latest"));
        Run part2 = train(second.toArray(String[]::new));
        assertThat(part2.exit()).as(part2.err()).isZero();
        List<JsonNode> joined = new ArrayList<>(part1.steps());
        joined.addAll(part2.steps());
        assertThat(joined).hasSize(6);
        for (int i = 0; i < 6; i++) {
            assertThat(joined.get(i).get("loss").asDouble()).as("step " + (i + 1)).isEqualTo(whole.steps().get(i).get("loss").asDouble());
            assertThat(joined.get(i).get("grad_norm").asDouble()).isEqualTo(whole.steps().get(i).get("grad_norm").asDouble());
        }
        LoraAdapter a = LoraAdapter.read(tmp.resolve("whole")), b = LoraAdapter.read(tmp.resolve("split"));
        assertThat(a.pairs().keySet()).isEqualTo(b.pairs().keySet()).isNotEmpty();
        for (String module : a.pairs().keySet()) {
            assertThat(b.pairs().get(module).a()).containsExactly(a.pairs().get(module).a());
            assertThat(b.pairs().get(module).b()).containsExactly(a.pairs().get(module).b());
        }
        assertThat(a.replacements().keySet()).contains("model.mm_projector.0.weight");
        assertThat(b.replacements().get("model.mm_projector.0.weight").toFloatArray()).containsExactly(a.replacements().get("model.mm_projector.0.weight").toFloatArray());
        // The adapter moved (B no longer zero) and a checkpoint holds the PEFT files too.
        assertThat(a.pairs().values().stream().anyMatch(p -> {
            for (float v : p.b()) if (v != 0) return true;
            return false;
        })).isTrue();
        assertThat(tmp.resolve("whole/checkpoint-3/adapter_config.json")).exists();
        assertThat(tmp.resolve("whole/loss_curve.png")).exists();
        JsonNode state = JSON.readTree(tmp.resolve("whole/checkpoint-3/trainer_state.json").toFile());
        assertThat(state.get("global_step").asInt()).isEqualTo(3);
        assertThat(state.get("log_history").size()).isEqualTo(3);
        try (Checkpoint saved = Checkpoint.open(tmp.resolve("whole/checkpoint-3/model.safetensors"))) {
            assertThat(saved.names()).contains("model.mm_projector.0.weight");
        }
        assertThat(Files.exists(tmp.resolve("whole/model.safetensors"))).as("a LoRA run writes the adapter, not a full model").isFalse();

        // The trained adapter applied at load (--lora) answers exactly like the checkpoint merge-lora writes, and not
        // like the base model.
        StringWriter mergeErr = new StringWriter();
        CommandLine merge = new CommandLine(new TrainCommand());
        merge.setErr(new PrintWriter(mergeErr, true));
        assertThat(merge.execute("merge-lora", "--model", Golden.resolve("model").toString(), "--lora", tmp.resolve("whole").toString(),
                "--out", tmp.resolve("merged").toString())).as(mergeErr.toString()).isZero();
        float[] adapted, merged, base;
        try (var m = io.instella.model.InstellaVL.load(Golden.resolve("model"), null, LoraAdapter.atLoad(tmp.resolve("whole")))) {
            adapted = lastLogits(m);
        }
        try (var m = io.instella.model.InstellaVL.load(tmp.resolve("merged"))) {
            merged = lastLogits(m);
        }
        try (var m = io.instella.model.InstellaVL.load(Golden.resolve("model"))) {
            base = lastLogits(m);
        }
        assertThat(merged).containsExactly(adapted);
        assertThat(base).isNotEqualTo(adapted);
    }

    private static float[] lastLogits(io.instella.model.InstellaVL model) {
        var prompt = model.prepare("<|user|>\nWhat colour is the sky?\n<|assistant|>\n", List.of());
        float[] embeds = model.embed(prompt);
        int n = prompt.sequenceLength();
        float[] hidden = model.languageModel().forward(embeds, n, model.languageModel().newCache(n));
        return model.languageModel().logits(hidden, n - 1);
    }
}
