package io.instella.train.optim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class LrScheduleTest {

    @Test
    void everyValueOfTheUpstreamCosineScheduleWithin1e12Relative() throws IOException {
        JsonNode root = new ObjectMapper().readTree(Golden.resolve("train/schedule.json").toFile());
        int checked = 0;
        for (JsonNode run : root.get("runs")) {
            long total = run.get("num_training_steps").asLong();
            LrSchedule s = LrSchedule.of("cosine", run.get("base_lr").asDouble(), total, run.get("warmup_ratio").asDouble(), 0);
            assertThat(s.warmupSteps()).as(run.get("label").asText()).isEqualTo(run.get("num_warmup_steps").asLong());
            JsonNode all = run.get("lr_all_steps_0_to_total");
            assertThat(all.size()).isEqualTo(total + 1);
            for (int step = 0; step < all.size(); step++) {
                assertRelative(s.lr(step), all.get(step).asDouble(), run.get("label").asText() + " step " + step);
                checked++;
            }
            var it = run.get("lr_at_step").fields();
            while (it.hasNext()) {
                var e = it.next();
                assertRelative(s.lr(Long.parseLong(e.getKey())), e.getValue().asDouble(), "lr_at_step " + e.getKey());
            }
        }
        assertThat(checked).isEqualTo(101 + 101 + 11);
    }

    private static void assertRelative(double actual, double expected, String what) {
        assertThat(actual).as(what).isCloseTo(expected, within(1e-12 * Math.abs(expected) + 1e-300));
    }

    @Test
    void linearConstantAndConstantWithWarmupFollowTransformers() {
        // transformers' lambdas by hand: warm-up s/w, then (total - s) / (total - w) for linear.
        LrSchedule linear = LrSchedule.of("linear", 2e-5, 10, 0.0, 2);
        assertThat(linear.lr(0)).isZero();
        assertThat(linear.lr(1)).isEqualTo(2e-5 * 0.5);
        assertThat(linear.lr(2)).isEqualTo(2e-5 * (8.0 / 8.0));
        assertThat(linear.lr(6)).isEqualTo(2e-5 * (4.0 / 8.0));
        assertThat(linear.lr(10)).isZero();
        assertThat(linear.lr(12)).isZero(); // max(0, ...)

        LrSchedule constant = LrSchedule.of("constant", 1e-3, 10, 0.5, 0);
        assertThat(constant.lr(0)).isEqualTo(1e-3);
        assertThat(constant.lr(9)).isEqualTo(1e-3);

        LrSchedule cw = LrSchedule.of("constant-with-warmup", 1e-3, 10, 0.25, 0);
        assertThat(cw.warmupSteps()).isEqualTo(3); // ceil(2.5)
        assertThat(cw.lr(0)).isZero();
        assertThat(cw.lr(2)).isEqualTo(1e-3 * (2.0 / 3.0));
        assertThat(cw.lr(3)).isEqualTo(1e-3);

        // explicit warm-up steps win over the ratio, as TrainingArguments.get_warmup_steps
        assertThat(LrSchedule.warmupSteps(100, 0.5, 7)).isEqualTo(7);
        assertThat(LrSchedule.warmupSteps(10, 0.03, 0)).isEqualTo(1);
        assertThat(LrSchedule.of("cosine", 1e-3, 0, 0.03, 0).lr(0)).isEqualTo(1e-3); // total 0: no division by zero
    }

    @Test
    void unknownScheduleIsAUserError() {
        assertThatThrownBy(() -> LrSchedule.of("polynomial", 1e-3, 10, 0, 0))
                .hasMessageContaining("polynomial").hasMessageContaining("cosine, linear, constant");
    }
}
