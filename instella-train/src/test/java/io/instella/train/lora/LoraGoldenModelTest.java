package io.instella.train.lora;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.Generator;
import io.instella.model.generate.TokenListener;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraConfig;
import io.instella.model.lora.LoraPair;
import io.instella.train.cli.MergeLoraCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * On the tiny golden model: a random adapter (B ≠ 0, the projector trained in full) applied at load time gives exactly
 * the greedy tokens and logits of the checkpoint merge-lora writes, loaded plainly, in f32 and in the base's own type;
 * different logits from the base; and a fresh adapter (B = 0) changes nothing.
 */
class LoraGoldenModelTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path adapterDir;
    static LoraAdapter adapter;
    static RgbImage image;

    @BeforeAll
    static void randomAdapter() throws Exception {
        model = Golden.resolve("model");
        image = ImageDecoder.defaults().decode(Golden.resolve("images/sq336.png"));
        LoraConfig config = LoraConfig.of(4, 8, 0.05, null, List.of("mm_projector"), model.toString());
        try (Checkpoint base = Checkpoint.open(model)) {
            LoraAdapter fresh = LoraTargets.initialize(config, base, 42);
            SplittableRandom random = new SplittableRandom(9);
            LoraAdapter.Builder b = LoraAdapter.builder(config);
            for (LoraPair p : fresh.pairs().values()) {
                b.pair(p.module(), p.r(), p.in(), p.out(), p.a(), LoraMergeTest.values(random, p.b().length, 0.05));
            }
            for (Tensor t : fresh.replacements().values()) {
                float[] v = t.toFloatArray();
                for (int i = 0; i < v.length; i++) v[i] += (float) ((random.nextDouble() - 0.5) * 0.02);
                b.replacement(t.name(), v, t.shape());
            }
            adapter = b.build();
        }
        assertThat(adapter.pairs()).hasSize(7 * 2); // two layers × q,k,v,o,gate,up,down
        assertThat(adapter.replacements()).containsOnlyKeys("model.mm_projector.0.weight", "model.mm_projector.0.bias",
                "model.mm_projector.2.weight", "model.mm_projector.2.bias");
        adapterDir = tmp.resolve("adapter");
        adapter.write(adapterDir);
    }

    @Test
    void loraAtLoadEqualsTheMergedCheckpointInF32() throws Exception {
        Path merged = tmp.resolve("merged-f32");
        assertThat(mergeLora("--model", model.toString(), "--lora", adapterDir.toString(), "--out", merged.toString(),
                "--save-dtype", "f32").code).isZero();
        GenerationResult plain = answer(merged, UnaryOperator.identity(), true);
        GenerationResult applied = answer(model, base -> adapter.applyTo(base, DType.F32), true);
        GenerationResult original = answer(model, UnaryOperator.identity(), true);

        assertThat(applied.completionIds()).containsExactly(plain.completionIds());
        assertThat(applied.promptLastLogits()).containsExactly(plain.promptLastLogits());
        assertThat(maxAbsDiff(applied.promptLastLogits(), original.promptLastLogits())).isGreaterThan(1e-3);

        try (Checkpoint out = Checkpoint.open(merged); Checkpoint base = Checkpoint.open(model)) {
            assertThat(out.names()).containsExactlyInAnyOrderElementsOf(base.names());
            assertThat(out.get("model.layers.0.self_attn.q_proj.weight").dtype()).isEqualTo(DType.F32);
            assertThat(out.get("model.mm_projector.2.weight").dtype()).isEqualTo(DType.F32);
            // Untouched tensors are copied as stored, byte for byte.
            Tensor e = out.get("model.embed_tokens.weight"), eb = base.get("model.embed_tokens.weight");
            assertThat(e.dtype()).isEqualTo(DType.BF16);
            assertThat(e.data().mismatch(eb.data())).isEqualTo(-1);
            Tensor v = out.get("model.vision_tower.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight");
            assertThat(v.data().mismatch(base.get(v.name()).data())).isEqualTo(-1);
        }
        assertThat(merged.resolve("config.json")).hasSameTextualContentAs(model.resolve("config.json"));
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json")) {
            assertThat(merged.resolve(f)).exists();
        }
        try (Stream<Path> sub = Files.list(model.resolve("vision_tower"))) {
            for (Path p : sub.toList()) assertThat(merged.resolve("vision_tower").resolve(p.getFileName())).hasSameBinaryContentAs(p);
        }
        try (Stream<Path> siblings = Files.list(tmp)) {
            assertThat(siblings.map(p -> p.getFileName().toString())).noneMatch(n -> n.contains("partial"));
        }
    }

    @Test
    void loraAtLoadEqualsTheMergedCheckpointInTheBaseType() throws Exception {
        Path merged = tmp.resolve("merged-bf16");
        assertThat(mergeLora("--model", model.toString(), "--lora", adapterDir.toString(), "--out", merged.toString()).code).isZero();
        GenerationResult plain = answer(merged, UnaryOperator.identity(), false);
        GenerationResult applied = answer(model, LoraAdapter.atLoad(adapterDir), false); // what --lora DIR does
        assertThat(applied.completionIds()).containsExactly(plain.completionIds());
        assertThat(applied.promptLastLogits()).containsExactly(plain.promptLastLogits());
        try (Checkpoint out = Checkpoint.open(merged)) {
            assertThat(out.get("model.layers.1.mlp.down_proj.weight").dtype()).isEqualTo(DType.BF16);
        }
        // Quantized loading quantizes the merged weights: it runs and still differs from the quantized base.
        try (InstellaVL q = InstellaVL.load(model, DType.Q8_0, LoraAdapter.atLoad(adapterDir));
             InstellaVL qb = InstellaVL.load(model, DType.Q8_0)) {
            assertThat(maxAbsDiff(answer(q, false).promptLastLogits(), answer(qb, false).promptLastLogits())).isGreaterThan(1e-3);
        }
    }

    @Test
    void anAdapterOnTheVisionTowerReachesIt() throws Exception {
        // peft's all-linear: the CLIP tower's and the projector's Linear layers too (here with B ≠ 0 on every one).
        LoraConfig config = LoraConfig.of(2, 4, 0, List.of("all-linear"), null, null);
        LoraAdapter.Builder b = LoraAdapter.builder(config);
        try (Checkpoint base = Checkpoint.open(model)) {
            SplittableRandom random = new SplittableRandom(4);
            for (LoraPair p : LoraTargets.initialize(config, base, 3).pairs().values()) {
                b.pair(p.module(), p.r(), p.in(), p.out(), p.a(), LoraMergeTest.values(random, p.b().length, 0.05));
            }
        }
        LoraAdapter all = b.build();
        assertThat(all.pairs().keySet()).anyMatch(m -> m.contains("vision_tower")).anyMatch(m -> m.contains("mm_projector"));
        Path dir = tmp.resolve("all-linear");
        all.write(dir);
        Path merged = tmp.resolve("merged-all-linear");
        assertThat(mergeLora("--model", model.toString(), "--lora", dir.toString(), "--out", merged.toString(),
                "--save-dtype", "f32").code).isZero();
        GenerationResult plain = answer(merged, UnaryOperator.identity(), true);
        GenerationResult applied = answer(model, base -> all.applyTo(base, DType.F32), true);
        assertThat(applied.promptLastLogits()).containsExactly(plain.promptLastLogits());
        assertThat(applied.completionIds()).containsExactly(plain.completionIds());
    }

    @Test
    void aFreshAdapterChangesNothing() throws Exception {
        LoraConfig config = LoraConfig.of(8, 16, 0, null, null, null);
        Path dir = tmp.resolve("fresh");
        try (Checkpoint base = Checkpoint.open(model)) {
            LoraTargets.initialize(config, base, 1).write(dir);
        }
        GenerationResult withFresh = answer(model, LoraAdapter.atLoad(dir), false);
        GenerationResult original = answer(model, UnaryOperator.identity(), false);
        assertThat(withFresh.completionIds()).containsExactly(original.completionIds());
        assertThat(withFresh.promptLastLogits()).containsExactly(original.promptLastLogits());
    }

    @Test
    void mergeLoraRefusesToOverwriteAndReportsBadInput() throws Exception {
        Path out = tmp.resolve("occupied");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "mine");
        Result r = mergeLora("--model", model.toString(), "--lora", adapterDir.toString(), "--out", out.toString());
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("already exists and is not empty").contains("--force");
        assertThat(out.resolve("keep.txt")).exists();

        r = mergeLora("--model", model.toString(), "--lora", adapterDir.toString(), "--out", out.toString(), "--force");
        assertThat(r.code).as(r.err).isZero();
        assertThat(r.out).contains("merged 14 adapted layer(s) and 4 whole tensor(s)");
        assertThat(out.resolve("keep.txt")).doesNotExist();
        assertThat(out.resolve("model.safetensors")).exists();

        r = mergeLora("--model", model.toString(), "--lora", tmp.resolve("no-adapter").toString(), "--out", tmp.resolve("x").toString());
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("no such LoRA adapter directory");
        assertThat(tmp.resolve("x")).doesNotExist();

        r = mergeLora("--model", model.toString(), "--lora", adapterDir.toString(), "--out", tmp.resolve("y").toString(), "--save-dtype", "q8");
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("--save-dtype must be bf16 or f32");

        r = mergeLora("--model", model.toString(), "--lora", adapterDir.toString(), "--out", model.resolve("sub").toString());
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("must not be or contain the base model folder");
    }

    record Result(int code, String out, String err) {}

    static Result mergeLora(String... args) {
        CommandLine cl = new CommandLine(new MergeLoraCommand());
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((e, c, parsed) -> {
            c.getErr().println(e.getMessage());
            return 1;
        });
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    /** Greedy answer; with an image (1176 image tokens on the golden model) the projector's replacement counts too. */
    static GenerationResult answer(Path dir, UnaryOperator<Checkpoint> transform, boolean withImage) {
        try (InstellaVL vl = InstellaVL.load(dir, null, transform)) {
            return answer(vl, withImage);
        }
    }

    static GenerationResult answer(InstellaVL vl, boolean withImage) {
        var prompt = withImage ? vl.prepare(ChatTemplate.single("Describe this image.", 1), List.of(image))
                : vl.prepare(ChatTemplate.single("Say something about squares.", 0), List.of());
        GenerationOptions greedy = GenerationOptions.builder().maxNewTokens(5).ignoreEos(true).build();
        return new Generator(vl).generate(prompt, greedy, TokenListener.NONE, vl.contextLength(), true);
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
