package io.instella.train.optim;

import io.instella.core.tensor.DType;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The effect of BF16 moments on the loss, on a problem small enough for a unit test: noisy least squares
 * (256 weights, mini-batches of 32, 400 steps, cosine schedule with warm-up, clipping), trained with float32
 * and with bfloat16 moments from the same start and the same batches.
 */
class MomentPrecisionEffectTest {
    private static final int DIM = 256, BATCH = 32, STEPS = 400;

    private static double[] train(AdamW.MomentPrecision precision) {
        Random data = new Random(11);
        float[] target = new float[DIM];
        for (int i = 0; i < DIM; i++) target[i] = (float) data.nextGaussian();
        ParameterSet set = new ParameterSet();
        Parameter w = new Parameter("w.weight", new long[]{DIM}, DType.F32, new float[DIM]);
        set.add(w);
        AdamW opt = new AdamW(set, AdamW.Options.defaults().withMomentPrecision(precision));
        LrSchedule schedule = LrSchedule.of("cosine", 5e-2, STEPS, 0.03, 0);
        Random batches = new Random(12);
        float[] x = new float[DIM];
        double firstLoss = 0, lastLoss = 0;
        for (int step = 0; step < STEPS; step++) {
            float[] g = w.gradForAccumulation();
            double loss = 0;
            for (int b = 0; b < BATCH; b++) {
                double pred = 0, y = batches.nextGaussian() * 0.1;
                for (int i = 0; i < DIM; i++) {
                    x[i] = (float) batches.nextGaussian();
                    pred += x[i] * w.value()[i];
                    y += x[i] * target[i];
                }
                double err = pred - y;
                loss += err * err / BATCH;
                for (int i = 0; i < DIM; i++) g[i] += (float) (2 * err * x[i] / BATCH);
            }
            GradientClipping.clipGlobalNorm(set, 1.0);
            opt.step(schedule.lr(step));
            set.zeroGrad();
            if (step == 0) firstLoss = loss;
            if (step >= STEPS - 20) lastLoss += loss / 20;
        }
        return new double[]{firstLoss, lastLoss};
    }

    @Test
    void bf16MomentsReachAboutTheSameLoss() {
        double[] f32 = train(AdamW.MomentPrecision.F32);
        double[] bf16 = train(AdamW.MomentPrecision.BF16);
        System.out.printf("least squares, mean loss of the last 20 of %d steps (start %.3f): f32 moments %.5f, bf16 moments %.5f%n",
                STEPS, f32[0], f32[1], bf16[1]);
        assertThat(f32[1]).isLessThan(f32[0] / 100);
        assertThat(bf16[1]).isLessThan(f32[0] / 100);
        assertThat(bf16[1]).isLessThan(f32[1] * 1.5 + 0.01);
    }
}
