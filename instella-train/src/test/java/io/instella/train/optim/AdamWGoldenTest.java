package io.instella.train.optim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * AdamW, clipping and the cosine schedule against torch 1.13 on the upstream trainer's projector gradients
 * (golden train/adamw): from the stored gradients every parameter and moment within 1e-6, and in fact bit-identical.
 */
class AdamWGoldenTest {
    private static final List<String> NAMES = List.of("model.mm_projector.0.weight", "model.mm_projector.0.bias",
            "model.mm_projector.2.weight", "model.mm_projector.2.bias");
    private static SafeTensorsFile golden;
    private static JsonNode caseJson;

    @BeforeAll
    static void open() throws IOException {
        golden = SafeTensorsFile.open(Golden.resolve("train/adamw/tensors.safetensors"));
        caseJson = new ObjectMapper().readTree(Golden.resolve("train/adamw/case.json").toFile());
    }

    @AfterAll
    static void close() {
        if (golden != null) golden.close();
    }

    private static float[] g(String name) {
        return golden.tensor(name).toFloatArray();
    }

    private static ParameterSet initialParameters() {
        ParameterSet set = new ParameterSet();
        for (String n : NAMES) {
            var t = golden.tensor("param." + n);
            set.add(new Parameter(n, t.shape(), DType.BF16, t.toFloatArray()));
        }
        return set;
    }

    private static void setGrads(ParameterSet set, String prefix) {
        for (Parameter p : set) System.arraycopy(g(prefix + p.name()), 0, p.gradForAccumulation(), 0, p.size());
    }

    private static void assertClose(float[] actual, float[] expected, double tol, String what) {
        assertThat(actual).as(what).hasSameSizeAs(expected);
        double worst = 0;
        for (int i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        assertThat(worst).as(what + " max |diff|").isLessThanOrEqualTo(tol);
        // Beyond the acceptance tolerance: the same float32 operations in torch's order (fused where ATen's x86
        // build fuses) reproduce every stored value to the bit.
        assertThat(actual).as(what + " bit-identical to torch").isEqualTo(expected);
    }

    @Test
    void constantLearningRateTwoStepsMatchTorch() {
        JsonNode hp = caseJson.get("hyperparameters");
        ParameterSet set = initialParameters();
        AdamW adamw = new AdamW(set, AdamW.Options.defaults()
                .withBetas(hp.get("betas").get(0).asDouble(), hp.get("betas").get(1).asDouble())
                .withEps(hp.get("eps").asDouble()).withWeightDecay(hp.get("weight_decay").asDouble()));
        for (int t = 1; t <= 2; t++) {
            set.zeroGrad();
            setGrads(set, "grad_step" + t + ".");
            adamw.step(caseJson.get("constant_lr").get("steps").get(t - 1).get("lr_used").asDouble());
            for (Parameter p : set) {
                assertClose(p.value(), g("after_step" + t + "." + p.name()), 1e-6, "after_step" + t + " " + p.name());
                assertClose(adamw.state(p.name()).expAvg(), g("exp_avg_step" + t + "." + p.name()), 1e-6, "exp_avg step " + t);
                assertClose(adamw.state(p.name()).expAvgSq(), g("exp_avg_sq_step" + t + "." + p.name()), 1e-6, "exp_avg_sq step " + t);
                assertThat(adamw.state(p.name()).step()).isEqualTo(t);
            }
        }
    }

    @Test
    void trainerLikeClipThenAdamWThenCosineMatchesTorch() {
        ParameterSet set = initialParameters();
        AdamW adamw = new AdamW(set, AdamW.Options.defaults());
        LrSchedule schedule = LrSchedule.of("cosine", 1e-3, 100, 0.03, 0);
        assertThat(schedule.warmupSteps()).isEqualTo(3);
        JsonNode steps = caseJson.get("trainer_like").get("steps");
        for (int t = 1; t <= 3; t++) {
            JsonNode step = steps.get(t - 1);
            set.zeroGrad();
            setGrads(set, "tl.grad_step" + t + ".");
            double norm = GradientClipping.clipGlobalNorm(set, 1.0);
            // torch's float32 norm, summed in its order: equal to the bit, and so are the clipped gradients
            assertThat((float) norm).as("grad norm before clipping, step " + t)
                    .isEqualTo((float) step.get("grad_total_norm_before_clip").asDouble());
            for (Parameter p : set) {
                assertThat(p.grad()).as("clipped grad step " + t + " " + p.name()).isEqualTo(g("tl.clipped_grad_step" + t + "." + p.name()));
            }
            double lr = schedule.lr(t - 1);
            assertThat(lr).isCloseTo(step.get("lr_used").asDouble(), within(1e-15));
            adamw.step(lr);
            for (Parameter p : set) {
                assertClose(p.value(), g("tl.after_step" + t + "." + p.name()), 1e-6, "tl.after_step" + t + " " + p.name());
                assertClose(adamw.state(p.name()).expAvg(), g("tl.exp_avg_step" + t + "." + p.name()), 1e-6, "tl.exp_avg step " + t);
                assertClose(adamw.state(p.name()).expAvgSq(), g("tl.exp_avg_sq_step" + t + "." + p.name()), 1e-6, "tl.exp_avg_sq step " + t);
            }
        }
        // lr 0 at step 1: the weights did not move in that step (moments did).
        assertThat(steps.get(0).get("lr_used").asDouble()).isZero();
    }
}
