package io.instella.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.train.optim.AdamW;
import io.instella.train.optim.LrSchedule;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CheckpointManagerTest {
    @TempDir
    Path out;

    /** A small run: two BF16-stored tensors and one F32 one, AdamW with weight decay, a cosine schedule. */
    private static final class Run {
        final ParameterSet params = new ParameterSet();
        final AdamW adamw;
        final LrSchedule schedule = LrSchedule.of("cosine", 1e-2, 10, 0.1, 0);
        final TrainerState state = new TrainerState();
        long step;

        Run(AdamW.MomentPrecision precision) {
            Random r = new Random(7);
            params.add(param("model.mm_projector.0.weight", DType.BF16, r, 6, 5));
            params.add(param("model.mm_projector.0.bias", DType.BF16, r, 6));
            params.add(param("model.image_newline", DType.F32, r, 7));
            adamw = new AdamW(params, AdamW.Options.defaults().withWeightDecay(0.1).withMomentPrecision(precision));
        }

        private static Parameter param(String name, DType stored, Random r, long... shape) {
            float[] v = new float[(int) Tensor.numel(shape)];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            return new Parameter(name, shape, stored, v);
        }

        void steps(int n) {
            for (int k = 0; k < n; k++) {
                Random r = new Random(100 + step); // the "data" of step s
                for (Parameter p : params) {
                    float[] g = p.gradForAccumulation();
                    for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
                }
                double lr = schedule.lr(step);
                adamw.step(lr);
                params.zeroGrad();
                step++;
                state.logStep(step, step / 10.0, 2.0 / step, lr, 1.5);
            }
        }

        SaveRequest request(DType saveDType) {
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("epoch", 0);
            data.put("batch", step);
            return SaveRequest.builder(step, params).saveDType(saveDType).optimizer(adamw).schedule(schedule)
                    .rngState(42, data).trainerState(state).trainingArgs(Map.of("learning_rate", 1e-2, "seed", 42)).build();
        }
    }

    @Test
    void resumeFromAnF32CheckpointContinuesBitIdentically() throws IOException {
        for (AdamW.MomentPrecision precision : AdamW.MomentPrecision.values()) {
            Run straight = new Run(precision);
            straight.steps(6);

            Run first = new Run(precision);
            first.steps(3);
            Path dir = new CheckpointManager(out.resolve(precision.name()), 0).save(first.request(DType.F32));
            assertThat(dir.getFileName().toString()).isEqualTo("checkpoint-3");

            Run resumed = new Run(precision); // fresh values, replaced by the checkpoint's
            try (TrainingCheckpoint cp = TrainingCheckpoint.read(dir)) {
                assertThat(cp.globalStep()).isEqualTo(3);
                cp.restoreParameters(resumed.params);
                cp.restoreOptimizer(resumed.adamw);
                assertThat(cp.scheduler().schedule()).isEqualTo(first.schedule);
                assertThat(cp.scheduler().lastEpoch()).isEqualTo(3);
                assertThat(cp.seed()).isEqualTo(42);
                assertThat(((Number) cp.rngState().get("batch")).longValue()).isEqualTo(3);
                assertThat(cp.trainingArgs()).containsEntry("seed", 42);
                resumed.step = cp.scheduler().lastEpoch();
                resumed.state.logHistory.addAll(cp.trainerState().logHistory);
            }
            resumed.steps(3);
            for (Parameter p : straight.params) {
                assertThat(resumed.params.get(p.name()).value()).as(precision + " " + p.name()).isEqualTo(p.value());
                assertThat(resumed.adamw.state(p.name()).expAvgSq()).isEqualTo(straight.adamw.state(p.name()).expAvgSq());
                assertThat(resumed.adamw.state(p.name()).step()).isEqualTo(6);
            }
        }
    }

    @Test
    void bf16SaveRoundsTheModelFileButKeepsFloat32MastersForResume() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        run.steps(2);
        Path dir = new CheckpointManager(out, 0).save(run.request(DType.BF16));
        float[] w = run.params.get("model.mm_projector.0.weight").value();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("model.safetensors"))) {
            Tensor t = f.tensor("model.mm_projector.0.weight");
            assertThat(t.dtype()).isEqualTo(DType.BF16);
            assertThat(t.shape()).containsExactly(6, 5);
            for (int i = 0; i < w.length; i++) assertThat(t.getFloat(i)).isEqualTo(Tensor.bf16ToFloat(Tensor.floatToBf16(w[i])));
        }
        try (TrainingCheckpoint cp = TrainingCheckpoint.read(dir)) {
            assertThat(cp.savedType("model.mm_projector.0.weight")).isEqualTo(DType.BF16);
            assertThat(cp.parameterValues("model.mm_projector.0.weight")).isEqualTo(w);
            assertThat(cp.parameterNames()).containsExactly("model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.image_newline");
        }
        // null = each parameter's stored type: BF16 for the projector, F32 for image_newline (no master copy needed)
        Path dir2 = new CheckpointManager(out.resolve("stored"), 0).save(run.request(null));
        try (SafeTensorsFile m = SafeTensorsFile.open(dir2.resolve("model.safetensors"));
             SafeTensorsFile o = SafeTensorsFile.open(dir2.resolve("optimizer.safetensors"))) {
            assertThat(m.tensor("model.mm_projector.0.bias").dtype()).isEqualTo(DType.BF16);
            assertThat(m.tensor("model.image_newline").dtype()).isEqualTo(DType.F32);
            assertThat(o.contains("master.model.mm_projector.0.bias")).isTrue();
            assertThat(o.contains("master.model.image_newline")).isFalse();
            assertThat(o.contains("exp_avg.model.image_newline")).isTrue();
            assertThat(o.metadata().get("instella.steps")).contains("\"model.image_newline\" : 2");
        }
    }

    @Test
    void trainerStateIsInTheHuggingFaceFormat() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        run.steps(2);
        run.state.maxSteps = 10;
        run.state.skippedRecords = Map.of("total", 1, "by_reason", Map.of("missing image", 1));
        run.state.logStep(3, 0.3, Double.NaN, 1e-3, Double.POSITIVE_INFINITY);
        Path dir = new CheckpointManager(out, 0).save(run.request(DType.F32));
        JsonNode json = new ObjectMapper().enable(com.fasterxml.jackson.core.JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS)
                .readTree(dir.resolve("trainer_state.json").toFile());
        assertThat(json.get("global_step").asLong()).isEqualTo(2);
        assertThat(json.get("max_steps").asLong()).isEqualTo(10);
        assertThat(json.has("best_metric") && json.get("best_metric").isNull()).isTrue();
        assertThat(json.has("best_model_checkpoint")).isTrue();
        JsonNode first = json.get("log_history").get(0);
        assertThat(first.get("step").asLong()).isEqualTo(1);
        assertThat(first.get("loss").asDouble()).isEqualTo(2.0);
        assertThat(first.get("learning_rate").asDouble()).isEqualTo(run.schedule.lr(0));
        assertThat(first.has("grad_norm") && first.has("epoch")).isTrue();
        assertThat(json.get("skipped_records").get("total").asInt()).isEqualTo(1);
        // NaN is written bare (as Python's json does) and read back as a number
        assertThat(Files.readString(dir.resolve("trainer_state.json"))).contains("NaN").contains("Infinity");
        try (TrainingCheckpoint cp = TrainingCheckpoint.read(dir)) {
            assertThat((Double) cp.trainerState().logHistory.get(2).get("loss")).isNaN();
        }
        JsonNode sched = new ObjectMapper().readTree(dir.resolve("scheduler.json").toFile());
        assertThat(sched.get("lr_scheduler_type").asText()).isEqualTo("cosine");
        assertThat(sched.get("last_epoch").asLong()).isEqualTo(2);
        assertThat(sched.get("_last_lr").get(0).asDouble()).isEqualTo(run.schedule.lr(2));
        JsonNode rng = new ObjectMapper().readTree(dir.resolve("rng_state.json").toFile());
        assertThat(rng.get("seed").asLong()).isEqualTo(42);
        assertThat(rng.get("state").get("batch").asLong()).isEqualTo(2);
        assertThat(Files.exists(dir.resolve("training_args.json"))).isTrue();
    }

    private static Map<String, byte[]> snapshot(Path dir) throws IOException {
        Map<String, byte[]> m = new LinkedHashMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).sorted().toList()) m.put(dir.relativize(p).toString(), Files.readAllBytes(p));
        }
        return m;
    }

    private List<String> entries() throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aFailureAtAnyPointOfASaveLeavesThePreviousCheckpointsIntactAndNoPartialDirectory() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        run.steps(2);
        CheckpointManager manager = new CheckpointManager(out, 0);
        Path previous = manager.save(run.request(DType.F32));
        Map<String, byte[]> before = snapshot(previous);
        run.steps(1);
        for (String stage : List.of("model", "optimizer", "state", "extra", "fsync", "rename")) {
            manager.faults = s -> {
                if (s.equals(stage)) throw new IOException("simulated crash at " + s);
            };
            assertThatThrownBy(() -> manager.save(run.request(DType.F32))).hasMessageContaining("simulated crash at " + stage);
            assertThat(entries()).as(stage).containsExactly("checkpoint-2", "loss_curve.png");
            assertThat(snapshot(previous)).as(stage).containsExactlyEntriesOf(before);
        }
        // the extra-files hook failing aborts the save the same way
        manager.faults = s -> {};
        SaveRequest failing = SaveRequest.builder(3, run.params).optimizer(run.adamw).trainerState(run.state)
                .extraFiles(dir -> {
                    Files.writeString(dir.resolve("adapter_config.json"), "{}");
                    throw new IOException("disk full");
                }).build();
        assertThatThrownBy(() -> manager.save(failing)).hasMessageContaining("disk full");
        assertThat(entries()).containsExactly("checkpoint-2", "loss_curve.png");

        // re-saving an existing step that fails keeps the old one; one that succeeds replaces it
        manager.faults = s -> {
            if (s.equals("rename")) throw new IOException("simulated crash at rename");
        };
        SaveRequest again = SaveRequest.builder(2, run.params).optimizer(run.adamw).trainerState(run.state).build();
        assertThatThrownBy(() -> manager.save(again)).isInstanceOf(IOException.class);
        assertThat(snapshot(previous)).containsExactlyEntriesOf(before);
        manager.faults = s -> {};
        Path extraWritten = manager.save(SaveRequest.builder(3, run.params).optimizer(run.adamw).trainerState(run.state)
                .extraFiles(dir -> Files.writeString(dir.resolve("adapter_config.json"), "{\"r\": 8}")).build());
        assertThat(Files.readString(extraWritten.resolve("adapter_config.json"))).isEqualTo("{\"r\": 8}");
        manager.save(again);
        assertThat(snapshot(previous)).isNotEqualTo(before);
        assertThat(entries()).containsExactly("checkpoint-2", "checkpoint-3", "loss_curve.png");
    }

    @Test
    void leftoversOfAKilledSaveAreCleanedOnTheNextStart() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        run.steps(1);
        CheckpointManager manager = new CheckpointManager(out, 0);
        manager.save(run.request(DType.F32));
        // a save killed while writing step 5, and one killed between moving checkpoint-1 aside and the rename
        Path partial = Files.createDirectories(out.resolve(".tmp-checkpoint-5-0a1b2c"));
        Files.write(partial.resolve("model.safetensors"), new byte[]{1, 2, 3});
        Files.writeString(partial.resolve("trainer_state.json"), "{\"global_step\": 5}");
        Files.move(out.resolve("checkpoint-1"), out.resolve(".old-checkpoint-1-00ff00"));
        Files.write(out.resolve(".loss_curve.png.1234.partial"), new byte[]{1});
        assertThat(manager.latest()).isEmpty();

        assertThat(manager.cleanUpInterruptedSaves()).isEqualTo(3);
        assertThat(entries()).containsExactly("checkpoint-1", "loss_curve.png");
        assertThat(manager.latest()).contains(out.resolve("checkpoint-1"));
        try (TrainingCheckpoint cp = TrainingCheckpoint.read(manager.latest().orElseThrow())) {
            assertThat(cp.globalStep()).isEqualTo(1);
        }
        // an .old- copy whose replacement did land is just deleted
        Files.createDirectories(out.resolve(".old-checkpoint-1-123abc"));
        assertThat(manager.cleanUpInterruptedSaves()).isEqualTo(1);
        assertThat(entries()).containsExactly("checkpoint-1", "loss_curve.png");
    }

    @Test
    void saveTotalLimitKeepsTheNewestByStepNumber() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        CheckpointManager manager = new CheckpointManager(out, 2);
        for (int i = 0; i < 5; i++) {
            run.steps(i == 2 ? 8 : 1); // steps 1, 2, 10, 11, 12: numeric, not lexicographic, order
            manager.save(run.request(DType.F32));
        }
        assertThat(entries()).containsExactly("checkpoint-11", "checkpoint-12", "loss_curve.png");
        assertThat(manager.checkpoints()).extracting(CheckpointManager::stepOf).containsExactly(11L, 12L);
    }

    @Test
    void resumeArgumentFindsTheLatestCheckpoint() throws IOException {
        assertThatThrownBy(() -> CheckpointManager.resolveResume(out, "latest")).hasMessageContaining("no checkpoint to resume from in");
        Run run = new Run(AdamW.MomentPrecision.F32);
        CheckpointManager manager = new CheckpointManager(out, 0);
        for (int i = 0; i < 3; i++) {
            run.steps(i == 1 ? 9 : 1);
            manager.save(run.request(DType.F32));
        }
        Files.createDirectories(out.resolve("checkpoint-99")); // not complete: no trainer_state.json
        assertThat(CheckpointManager.resolveResume(out, "latest")).isEqualTo(out.resolve("checkpoint-11"));
        assertThat(CheckpointManager.resolveResume(out, "True")).isEqualTo(out.resolve("checkpoint-11"));
        assertThat(CheckpointManager.resolveResume(Path.of("elsewhere"), out.toString())).isEqualTo(out.resolve("checkpoint-11"));
        assertThat(CheckpointManager.resolveResume(out, out.resolve("checkpoint-1").toString())).isEqualTo(out.resolve("checkpoint-1"));
        assertThatThrownBy(() -> CheckpointManager.resolveResume(out, out.resolve("nope").toString())).hasMessageContaining("no such checkpoint");
        assertThatThrownBy(() -> TrainingCheckpoint.read(out.resolve("checkpoint-99"))).hasMessageContaining("not a complete training checkpoint");
    }

    @Test
    void keysOfATrainerStateThatThisClassDoesNotModelAreKept() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        run.steps(1);
        Path dir = new CheckpointManager(out, 0).save(run.request(DType.F32));
        Path file = dir.resolve("trainer_state.json");
        Files.writeString(file, Files.readString(file).replaceFirst("\\{", "{\n  \"stateful_callbacks\": {\"TrainerControl\": {\"args\": {}}},"));
        try (TrainingCheckpoint cp = TrainingCheckpoint.read(dir)) {
            assertThat(cp.trainerState().other()).containsKey("stateful_callbacks");
            assertThat(CheckpointFiles.JSON.writeValueAsString(cp.trainerState())).contains("\"stateful_callbacks\"");
        }
        Files.writeString(file, "{ not json");
        assertThatThrownBy(() -> TrainingCheckpoint.read(dir)).hasMessageContaining("trainer_state.json: not valid JSON");
    }

    @Test
    void restoringIntoARunThatTrainsOtherPartsSaysWhich() throws IOException {
        Run run = new Run(AdamW.MomentPrecision.F32);
        run.steps(1);
        Path dir = new CheckpointManager(out, 0).save(run.request(DType.F32));
        ParameterSet other = new ParameterSet();
        other.add(new Parameter("model.mm_projector.0.weight", new long[]{6, 5}, DType.BF16, new float[30]));
        other.add(new Parameter("model.layers.0.mlp.down_proj.weight", new long[]{2, 2}, DType.BF16, new float[4]));
        try (TrainingCheckpoint cp = TrainingCheckpoint.read(dir)) {
            assertThatThrownBy(() -> cp.restoreParameters(other))
                    .hasMessageContaining("trained now, not in the checkpoint (1): model.layers.0.mlp.down_proj.weight")
                    .hasMessageContaining("in the checkpoint, not trained now (2)");
        }
    }

    @Test
    void lossCurveIsAPngForNoneOneAndManyPointsWithNaNs() throws IOException {
        List<List<Map<String, Object>>> histories = new ArrayList<>();
        histories.add(List.of());
        TrainerState one = new TrainerState();
        one.logStep(1, 0.1, 3.5, 1e-3, 1.0);
        histories.add(one.logHistory);
        TrainerState many = new TrainerState();
        for (int s = 1; s <= 50; s++) many.logStep(s, s / 50.0, s == 7 ? Double.NaN : 10.0 / s, 1e-3 * s / 50, 1.0);
        many.log(Map.of("eval_loss", 1.5, "step", 25));
        many.log(Map.of("loss", "not a number", "step", 26));
        histories.add(many.logHistory);
        for (int i = 0; i < histories.size(); i++) {
            Path png = out.resolve("curve" + i + ".png");
            LossCurve.write(histories.get(i), png);
            BufferedImage img = ImageIO.read(png.toFile());
            assertThat(img.getWidth()).isEqualTo(LossCurve.WIDTH);
            assertThat(img.getHeight()).isEqualTo(LossCurve.HEIGHT);
        }
        // the many-point curve is drawn in the loss colour somewhere inside the plot
        BufferedImage img = ImageIO.read(out.resolve("curve2.png").toFile());
        boolean blue = false;
        for (int x = 0; x < img.getWidth() && !blue; x++) {
            for (int y = 0; y < img.getHeight() && !blue; y++) blue = (img.getRGB(x, y) & 0xFFFFFF) == 0x1F77B4;
        }
        assertThat(blue).isTrue();
    }
}
