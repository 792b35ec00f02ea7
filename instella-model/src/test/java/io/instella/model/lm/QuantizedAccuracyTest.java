package io.instella.model.lm;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.testing.Golden;
import io.instella.model.QuantizationPlan;
import io.instella.model.config.InstellaConfig;
import io.instella.model.testing.GoldenCase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Q8_0/Q4_0 projection weights against the stored (BF16) ones on the golden cases, over every prompt
 * position: Q8_0 must keep the BF16 top-1 token wherever BF16's top-1/top-2 margin exceeds 1.0, and its
 * logits' RMS error must stay under 3% of the BF16 logits' RMS. (2% until prefill moved to the int8 GEMM, which
 * quantizes the activations per block as decode and llama.cpp's Q8_0 do: 1.1–1.9% with float activations,
 * 1.7–2.8% with int8 ones on these cases; {@code -Dinstella.prefill=packed} gives the former.) Both use {@link QuantizationPlan} (under Q8_0
 * the q/k projections and the head stay wide). Q4_0 figures are reported, not bounded.
 */
class QuantizedAccuracyTest {
    static Checkpoint ckpt;
    static Arena arena;
    static OlmoModel wide, q8, q4;

    @BeforeAll
    static void load() {
        InstellaConfig cfg = InstellaConfig.load(Golden.resolve("model"));
        ckpt = Checkpoint.open(Golden.resolve("model"));
        arena = Arena.ofShared();
        wide = new OlmoModel(cfg.text(), ckpt);
        q8 = new OlmoModel(cfg.text(), ckpt, planned(DType.Q8_0));
        q4 = new OlmoModel(cfg.text(), ckpt, planned(DType.Q4_0));
        assertThat(q8.headType()).isEqualTo(wide.headType());
        assertThat(q4.headType()).isEqualTo(DType.Q8_0);
        assertThat(q8.layer(0).q().dtype()).isEqualTo(wide.layer(0).q().dtype());
        assertThat(q4.layer(0).k().dtype()).isEqualTo(DType.Q4_0);
        assertThat(q4.layer(0).down().dtype()).isEqualTo(DType.Q4_0);
    }

    /** The load-time plan, without letting go of the stored pages (the wide model reads the same mapping). */
    static java.util.function.UnaryOperator<io.instella.core.tensor.Tensor> planned(DType type) {
        QuantizationPlan plan = new QuantizationPlan(type);
        return w -> plan.quantizes(w) ? Quant.quantize(w, plan.typeFor(w.name()), arena) : w;
    }

    @AfterAll
    static void close() {
        if (ckpt != null) ckpt.close();
        if (arena != null) arena.close();
    }

    static List<GoldenCase> cases() { return GoldenCase.all(); }

    static final int POSITIONS = 320;

    /** Agreement figures of one quantized model against the wide one over all positions. */
    record Agreement(int positions, int confident, int confidentKept, double top1Agreement, double meanKl, double rmsRatio) {}

    static Agreement compare(float[] ref, float[] got, int positions, int vocab) {
        int confident = 0, kept = 0, agree = 0;
        double kl = 0, errSq = 0, refSq = 0;
        for (int p = 0; p < positions; p++) {
            int off = p * vocab;
            int r1 = -1, r2 = -1, g1 = 0;
            for (int j = 0; j < vocab; j++) {
                float v = ref[off + j];
                if (r1 < 0 || v > ref[off + r1]) { r2 = r1; r1 = j; } else if (r2 < 0 || v > ref[off + r2]) r2 = j;
                if (got[off + j] > got[off + g1]) g1 = j;
                double d = got[off + j] - v;
                errSq += d * d;
                refSq += (double) v * v;
            }
            if (g1 == r1) agree++;
            if (ref[off + r1] - ref[off + r2] > 1.0) {
                confident++;
                if (g1 == r1) kept++;
            }
            kl += kl(ref, got, off, vocab);
        }
        return new Agreement(positions, confident, kept, (double) agree / positions, kl / positions, Math.sqrt(errSq / refSq));
    }

    /** KL(P_ref ‖ P_got) of the softmaxes of one position. */
    static double kl(float[] ref, float[] got, int off, int n) {
        double mr = Double.NEGATIVE_INFINITY, mg = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            mr = Math.max(mr, ref[off + j]);
            mg = Math.max(mg, got[off + j]);
        }
        double zr = 0, zg = 0;
        for (int j = 0; j < n; j++) {
            zr += Math.exp(ref[off + j] - mr);
            zg += Math.exp(got[off + j] - mg);
        }
        double lzr = Math.log(zr) + mr, lzg = Math.log(zg) + mg, sum = 0;
        for (int j = 0; j < n; j++) {
            double lpr = ref[off + j] - lzr, lpg = got[off + j] - lzg;
            sum += Math.exp(lpr) * (lpr - lpg);
        }
        return sum;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void q8KeepsConfidentTop1AndSmallRmsError(GoldenCase c) {
        float[] embeds = embeds(c);
        // The first few hundred positions of each prompt (text and image rows): enough positions, a fast test.
        int h = wide.config().hiddenSize(), L = Math.min(embeds.length / h, POSITIONS), V = wide.config().vocabSize();
        float[] ref = wide.logitsAll(wide.forward(embeds, L, wide.newCache(L)), L);
        float[] g8 = q8.logitsAll(q8.forward(embeds, L, q8.newCache(L)), L);
        float[] g4 = q4.logitsAll(q4.forward(embeds, L, q4.newCache(L)), L);
        Agreement a8 = compare(ref, g8, L, V), a4 = compare(ref, g4, L, V);
        System.out.printf("accuracy %s: q8_0 %s%naccuracy %s: q4_0 %s%n", c.name(), a8, c.name(), a4);
        assertThat(a8.confidentKept()).as("Q8_0 keeps the top-1 token where the BF16 margin > 1").isEqualTo(a8.confident());
        assertThat(a8.rmsRatio()).as("Q8_0 logits RMS error / BF16 logits RMS").isLessThan(0.03);
    }

    /** Input embeddings of a case, image rows from the golden merged features (as OlmoGoldenTest builds them). */
    static float[] embeds(GoldenCase c) {
        int h = wide.config().hiddenSize();
        int[] ids = c.inputIds();
        float[] merged = new float[0];
        if (c.image() != null) {
            try (SafeTensorsFile img = SafeTensorsFile.open(Golden.resolve("images/" + c.image() + ".safetensors"))) {
                merged = img.tensor("merged_features").toFloatArray();
            }
        }
        int nImg = merged.length / h;
        int L = ids.length - (c.image() != null ? 1 : 0) + nImg;
        float[] embeds = new float[L * h];
        int row = 0;
        for (int id : ids) {
            if (id == -200) {
                System.arraycopy(merged, 0, embeds, row * h, nImg * h);
                row += nImg;
            } else {
                wide.embed(new int[]{id}, 0, 1, embeds, row++);
            }
        }
        return embeds;
    }
}
