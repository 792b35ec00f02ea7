package io.instella.train.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The command-line contracts of `instella train grads` and `instella train` (used by checks outside the repository)
 * against the upstream trainer's golden outputs: every example × mode and the padded batch through `grads`, and the
 * trainer-like run (clip → AdamW → cosine over 100 steps) through `train`.
 */
class TrainContractTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Run(int exit, String out, String err) {}

    static Run train(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(new TrainCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (String mode : new String[]{"stage1", "full", "stage1_square"}) {
            for (String e : new String[]{"a1_sq336_single", "a2_tall200x900_multiturn", "a3_text_only_multiturn", "a4_land640x480_single"}) {
                list.add(Arguments.of(mode, List.of(e)));
            }
            list.add(Arguments.of(mode, List.of("a1_sq336_single", "a3_text_only_multiturn")));
        }
        return list.stream();
    }

    static String[] modeFlags(String mode) {
        return switch (mode) {
            case "stage1" -> new String[]{"--mm-tunable-parts", "mm_mlp_adapter", "--image-aspect-ratio", "anyres", "--mm-patch-merge-type", "spatial_unpad"};
            case "full" -> new String[]{"--mm-tunable-parts", "mm_vision_tower,mm_mlp_adapter,mm_language_model", "--image-aspect-ratio", "anyres",
                    "--mm-patch-merge-type", "spatial_unpad"};
            default -> new String[]{"--mm-tunable-parts", "mm_mlp_adapter", "--image-aspect-ratio", "square", "--mm-patch-merge-type", "flat",
                    "--model-max-length", "8192"};
        };
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void gradsMatchesTheUpstreamTrainer(String mode, List<String> ids, @TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("grads.safetensors");
        List<String> args = new ArrayList<>(List.of("grads", "--model", Golden.resolve("model").toString(),
                "--data", Golden.resolve("train/examples.json").toString(), "--image-folder", Golden.resolve("images").toString(),
                "--examples", String.join(",", ids), "--out", out.toString(), "--json"));
        args.addAll(List.of(modeFlags(mode)));
        Run run = train(args.toArray(String[]::new));
        assertThat(run.exit()).as(run.err()).isZero();
        JsonNode result = JSON.readTree(run.out());
        boolean batch = ids.size() > 1;
        Path caseDir = Golden.resolve("train").resolve(batch ? "batch" : ids.getFirst());
        JsonNode ref = JSON.readTree(caseDir.resolve("case.json").toFile()).get("modes").get(mode);
        assertThat(result.get("loss").asDouble()).isCloseTo(ref.get("loss").asDouble(), within(1e-4));
        assertThat(result.get("num_targets").asInt()).isEqualTo(ref.get("num_trained_targets").asInt());
        for (int b = 0; b < ids.size(); b++) {
            JsonNode ex = result.get("examples").get(b);
            assertThat(ex.get("id").asText()).isEqualTo(ids.get(b));
            try (Checkpoint t = Checkpoint.open(Golden.resolve("train").resolve(ids.get(b)).resolve("tensors.safetensors"))) {
                assertThat(ints(ex.get("input_ids"))).containsExactly(toInts(t.get("input_ids").toLongArray()));
                assertThat(ints(ex.get("labels"))).containsExactly(toInts(t.get("labels").toLongArray()));
            }
            int expectedLength = batch ? ref.get("merged_sequence_length").get(b).asInt() : ref.get("merged_sequence_length").asInt();
            assertThat(ex.get("merged_length").asInt()).isEqualTo(expectedLength);
        }
        try (Checkpoint ours = Checkpoint.open(out);
             Checkpoint golden = Checkpoint.open(caseDir.resolve(mode).resolve("tensors.safetensors"))) {
            long[] merged = golden.get("merged_labels").toLongArray();
            long[] mine = ours.get("merged_labels").toLongArray();
            assertThat(mine).containsExactly(merged);
            for (String name : golden.names()) {
                if (!name.startsWith("grad.")) continue;
                float[] expected = golden.get(name).toFloatArray();
                float[] actual = ours.get(name).toFloatArray();
                String param = name.substring("grad.".length());
                if (golden.contains("grad_rows." + param)) {
                    long[] rows = golden.get("grad_rows." + param).toLongArray();
                    int h = expected.length / rows.length;
                    float[] picked = new float[expected.length];
                    for (int r = 0; r < rows.length; r++) System.arraycopy(actual, (int) rows[r] * h, picked, r * h, h);
                    actual = picked;
                }
                double maxRef = 0, maxDiff = 0;
                for (int i = 0; i < expected.length; i++) {
                    maxRef = Math.max(maxRef, Math.abs(expected[i]));
                    maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
                }
                assertThat(maxDiff).as(name).isLessThanOrEqualTo(1e-3 * Math.max(1, maxRef));
            }
            JsonNode norms = ref.get("grad_l2_norms"), mineNorms = result.get("grad_l2_norms");
            for (Iterator<String> it = norms.fieldNames(); it.hasNext(); ) {
                String p = it.next();
                if (norms.get(p).isNull()) {
                    assertThat(mineNorms.has(p)).as(p + " gets no gradient").isFalse();
                    assertThat(ours.contains("grad." + p)).as(p + " gets no gradient").isFalse();
                    continue;
                }
                double e = norms.get(p).asDouble();
                assertThat(mineNorms.get(p)).as(p).isNotNull();
                assertThat(mineNorms.get(p).asDouble()).as(p).isCloseTo(e, within(Math.max(1e-3 * e, 1e-6)));
                assertThat(ours.contains("grad." + p)).isTrue();
            }
            assertThat(mineNorms.size()).isEqualTo((int) iterableSize(norms) - nulls(norms));
        }
    }

    private static long iterableSize(JsonNode n) {
        long c = 0;
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); it.next()) c++;
        return c;
    }

    private static int nulls(JsonNode n) {
        int c = 0;
        for (JsonNode v : n) if (v.isNull()) c++;
        return c;
    }

    private static int[] ints(JsonNode array) {
        int[] a = new int[array.size()];
        for (int i = 0; i < a.length; i++) a[i] = array.get(i).asInt();
        return a;
    }

    private static int[] toInts(long[] l) {
        int[] a = new int[l.length];
        for (int i = 0; i < l.length; i++) a[i] = (int) l[i];
        return a;
    }

    /** The batch (a1 + a3) as a data file of its own: every step trains on the same two records, as the golden run did. */
    static Path batchData(Path dir) throws IOException {
        JsonNode all = JSON.readTree(Golden.resolve("train/examples.json").toFile());
        var array = JSON.createArrayNode();
        for (JsonNode r : all) if (r.get("id").asText().matches("a1_sq336_single|a3_text_only_multiturn")) array.add(r);
        Path data = dir.resolve("batch.json");
        Files.writeString(data, JSON.writeValueAsString(array));
        return data;
    }

    @Test
    void theTrainerLikeRunMatchesTheUpstreamTrainer(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out");
        Run run = train("--model", Golden.resolve("model").toString(), "--data", batchData(tmp).toString(),
                "--image-folder", Golden.resolve("images").toString(), "--mm-tunable-parts", "mm_mlp_adapter",
                "--image-aspect-ratio", "anyres", "--mm-patch-merge-type", "spatial_unpad", "--learning-rate", "1e-3",
                "--lr-scheduler-type", "cosine", "--warmup-ratio", "0.03", "--max-steps", "100", "--stop-after-steps", "3",
                "--per-device-train-batch-size", "2", "--max-grad-norm", "1.0", "--weight-decay", "0", "--save-steps", "3",
                "--save-dtype", "f32", "--output-dir", out.toString(), "--json");
        assertThat(run.exit()).as(run.err()).isZero();
        JsonNode golden = JSON.readTree(Golden.resolve("train/adamw/case.json").toFile()).get("trainer_like").get("steps");
        List<String> lines = run.out().lines().toList();
        assertThat(lines).hasSize(3);
        for (int i = 0; i < 3; i++) {
            JsonNode line = JSON.readTree(lines.get(i)), ref = golden.get(i);
            assertThat(line.get("step").asInt()).isEqualTo(i + 1);
            assertThat(line.get("loss").asDouble()).isCloseTo(ref.get("loss_before_step").asDouble(), within(1e-4));
            assertThat(line.get("learning_rate").asDouble()).isCloseTo(ref.get("lr_used").asDouble(), within(1e-12 * Math.max(1e-3, ref.get("lr_used").asDouble())));
            double norm = ref.get("grad_total_norm_before_clip").asDouble();
            assertThat(line.get("grad_norm").asDouble()).isCloseTo(norm, within(1e-3 * norm));
        }
        // The projector after 3 steps from our own gradients: the golden README's rule (AdamW moves each weight by about
        // lr·sign(g), so where |g| is tiny a sign may differ: 2·lr there, 1e-5 elsewhere).
        try (Checkpoint saved = Checkpoint.open(out.resolve("checkpoint-3/model.safetensors"));
             Checkpoint ref = Checkpoint.open(Golden.resolve("train/adamw/tensors.safetensors"))) {
            for (String p : List.of("model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight", "model.mm_projector.2.bias")) {
                assertThat(saved.get(p).dtype()).isEqualTo(io.instella.core.tensor.DType.F32);
                float[] mine = saved.get(p).toFloatArray(), expected = ref.get("tl.after_step3." + p).toFloatArray();
                float[] g2 = ref.get("tl.grad_step2." + p).toFloatArray(), g3 = ref.get("tl.grad_step3." + p).toFloatArray();
                for (int i = 0; i < mine.length; i++) {
                    boolean tiny = Math.abs(g2[i]) < 1e-4 || Math.abs(g3[i]) < 1e-4;
                    double tol = tiny ? 2 * (3.333e-4 + 6.667e-4) : 1e-5;
                    assertThat((double) mine[i]).as(p + "[" + i + "]").isCloseTo(expected[i], within(tol));
                }
            }
        }
    }
}
