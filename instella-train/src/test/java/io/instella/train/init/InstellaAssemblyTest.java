package io.instella.train.init;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.Generator;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Building an Instella checkpoint from an HF OLMo directory and an HF CLIP directory: taken apart from the golden
 * model and put back together it is the golden model (same tensors, same config, same logits and greedy tokens);
 * with a fresh projector and newline it loads and runs, and the fresh values follow PyTorch's init laws.
 */
class InstellaAssemblyTest {
    @TempDir
    static Path tmp;
    static Path olmo, clipVision, clipFull;
    static final int H = 128, MM = 64;

    @BeforeAll
    static void split() throws IOException {
        olmo = GoldenSplit.olmo(tmp.resolve("sources"), 1);
        clipVision = GoldenSplit.clipVision(tmp.resolve("sources"));
        clipFull = GoldenSplit.clipFull(tmp.resolve("sources"));
    }

    /** The golden model's own settings, with its projector and newline given explicitly. */
    static InstellaAssembly.Options goldenOptions() {
        Path g = GoldenSplit.goldenModel();
        return InstellaAssembly.Options.stage2(1, g).withImageNewlineFrom(g);
    }

    @Test
    void reassembledGoldenIsTheGoldenModel() throws IOException {
        Path out = tmp.resolve("reassembled");
        InstellaAssembly.Result r = InstellaAssembly.assemble(olmo, clipVision, goldenOptions(), out);
        assertThat(r.freshProjector()).isFalse();
        assertThat(r.freshImageNewline()).isFalse();
        assertThat(r.visionTowerName()).isEqualTo("openai/clip-vit-large-patch14-336");
        assertThat(r.newTensorType()).isEqualTo(DType.BF16);

        Path g = GoldenSplit.goldenModel();
        // config.json: exactly the golden field set and values; the tower's config exactly the golden one.
        assertThat(GoldenSplit.JSON.readTree(out.resolve("config.json").toFile())).isEqualTo(GoldenSplit.JSON.readTree(g.resolve("config.json").toFile()));
        assertThat(GoldenSplit.JSON.readTree(out.resolve("vision_tower/config.json").toFile()))
                .isEqualTo(GoldenSplit.JSON.readTree(g.resolve("vision_tower/config.json").toFile()));
        assertThat(Files.mismatch(out.resolve("vision_tower/preprocessor_config.json"), g.resolve("vision_tower/preprocessor_config.json"))).isEqualTo(-1);
        for (String f : GoldenSplit.TOKENIZER_FILES) {
            assertThat(Files.mismatch(out.resolve(f), g.resolve(f))).as(f).isEqualTo(-1);
            // The golden files are read-only; the copies belong to the new checkpoint and can be rewritten by the trainer.
            assertThat(Files.getPosixFilePermissions(out.resolve(f))).as(f).contains(java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        }
        assertSameTensors(out, g);
        assertThat(Files.getPosixFilePermissions(out.resolve("model.safetensors"))).isEqualTo(Files.getPosixFilePermissions(out.resolve("config.json")));
        // Nothing left behind beside the output.
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("."))).isEmpty();
        }

        try (InstellaVL model = InstellaVL.load(out)) {
            checkAgainstGoldenCase(model, "sq336_describe");
            checkAgainstGoldenCase(model, "text_only_ascii");
        }
    }

    @Test
    void fullClipModelAndShardedOlmoGiveTheSameCheckpoint() throws IOException {
        Path sharded = GoldenSplit.olmo(tmp.resolve("sharded"), 3);
        Path out = tmp.resolve("from-full-clip");
        InstellaAssembly.assemble(sharded, clipFull, goldenOptions(), out);
        assertSameTensors(out, GoldenSplit.goldenModel());
        JsonNode tower = GoldenSplit.JSON.readTree(out.resolve("vision_tower/config.json").toFile());
        // Fields the CLIPModel config left to their defaults are written out.
        assertThat(tower.get("hidden_act").asText()).isEqualTo("quick_gelu");
        assertThat(tower.get("layer_norm_eps").asDouble()).isEqualTo(1e-5);
        assertThat(tower.get("num_channels").asInt()).isEqualTo(3);
        assertThat(tower.get("model_type").asText()).isEqualTo("clip_vision_model");
        assertThat(tower.get("hidden_size").asInt()).isEqualTo(MM);
        try (InstellaVL model = InstellaVL.load(out)) {
            checkAgainstGoldenCase(model, "text_only_ascii");
        }
    }

    @Test
    void stage1FreshProjectorLoadsRunsAndFollowsTheInitLaw() throws IOException {
        Path out = tmp.resolve("stage1-seed7");
        InstellaAssembly.Result r = InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage1(7), out);
        assertThat(r.freshProjector()).isTrue();
        assertThat(r.freshImageNewline()).isFalse();
        JsonNode c = GoldenSplit.JSON.readTree(out.resolve("config.json").toFile());
        assertThat(c.get("mm_patch_merge_type").asText()).isEqualTo("flat");
        assertThat(c.get("image_aspect_ratio").asText()).isEqualTo("square");
        assertThat(c.get("mm_tunable_parts").asText()).isEqualTo("mm_mlp_adapter");
        assertThat(c.get("tokenizer_model_max_length").asInt()).isEqualTo(8192);
        assertThat(c.get("mm_hidden_size").asInt()).isEqualTo(MM);

        try (Checkpoint ckpt = Checkpoint.open(out)) {
            assertThat(ckpt.contains(InstellaAssembly.IMAGE_NEWLINE)).isFalse();
            assertThat(ckpt.contains("lm_head.weight")).isFalse();
            assertThat(ckpt.names()).noneMatch(n -> n.contains("position_ids") || n.contains("inv_freq"));
            checkUniform(ckpt.get("model.mm_projector.0.weight", H, MM), MM);
            checkUniform(ckpt.get("model.mm_projector.0.bias", H), MM);
            checkUniform(ckpt.get("model.mm_projector.2.weight", H, H), H);
            checkUniform(ckpt.get("model.mm_projector.2.bias", H), H);
            assertThat(ckpt.get("model.mm_projector.0.weight").dtype()).isEqualTo(DType.BF16);
        }
        try (InstellaVL model = InstellaVL.load(out)) {
            RgbImage image = ImageDecoder.defaults().decode(Golden.resolve("images/sq336.png"));
            PreparedPrompt p = model.prepare(ChatTemplate.render(List.of(ChatMessage.user("Describe this image.", 1)), true), List.of(image));
            assertThat(p.numImageTokens()).isEqualTo(576); // square + flat: one tile, no newline rows
            GenerationResult g = new Generator(model).generate(p, GenerationOptions.builder().maxNewTokens(2).ignoreEos(true).build(),
                    null, model.contextLength(), true);
            assertThat(g.completionIds()).hasSize(2);
            for (float v : g.promptLastLogits()) assertThat(Float.isFinite(v)).isTrue();
        }
    }

    @Test
    void freshWeightsAreDeterministicForASeedAndDifferAcrossSeeds() throws IOException {
        Path a = tmp.resolve("seed11-a"), b = tmp.resolve("seed11-b"), c = tmp.resolve("seed12");
        InstellaAssembly.Options o = InstellaAssembly.Options.stage2(11, null);
        InstellaAssembly.assemble(olmo, clipVision, o, a);
        InstellaAssembly.assemble(olmo, clipVision, o, b);
        InstellaAssembly.assemble(olmo, clipVision, o.withSeed(12), c);
        assertThat(Files.mismatch(a.resolve("model.safetensors"), b.resolve("model.safetensors"))).isEqualTo(-1);
        try (Checkpoint ca = Checkpoint.open(a); Checkpoint cc = Checkpoint.open(c)) {
            for (String n : List.of("model.mm_projector.0.weight", "model.mm_projector.2.bias", InstellaAssembly.IMAGE_NEWLINE)) {
                assertThat(ca.get(n).toFloatArray()).as(n).isNotEqualTo(cc.get(n).toFloatArray());
            }
            // The frozen parts are the inputs, untouched.
            assertThat(ca.get("model.layers.1.mlp.down_proj.weight").toFloatArray()).isEqualTo(cc.get("model.layers.1.mlp.down_proj.weight").toFloatArray());
        }
    }

    @Test
    void stage2FreshNewlineAndLoadedStage1Projector() throws IOException {
        Path stage1 = tmp.resolve("s2-stage1");
        InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage1(3), stage1);
        Path fresh = tmp.resolve("s2-fresh"), loaded = tmp.resolve("s2-loaded");
        InstellaAssembly.Result rf = InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(5, null), fresh);
        InstellaAssembly.Result rl = InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(5, stage1), loaded);
        assertThat(rf.freshImageNewline()).isTrue();
        assertThat(rl.freshProjector()).isFalse();
        assertThat(rl.freshImageNewline()).isTrue();
        JsonNode c = GoldenSplit.JSON.readTree(loaded.resolve("config.json").toFile());
        assertThat(c.get("mm_patch_merge_type").asText()).isEqualTo("spatial_unpad");
        assertThat(c.get("image_aspect_ratio").asText()).isEqualTo("anyres");
        assertThat(c.get("mm_tunable_parts").asText()).isEqualTo(InstellaAssembly.ALL_PARTS);
        try (Checkpoint s1 = Checkpoint.open(stage1); Checkpoint f = Checkpoint.open(fresh); Checkpoint l = Checkpoint.open(loaded)) {
            for (String n : List.of("model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight", "model.mm_projector.2.bias")) {
                assertThat(l.get(n).toFloatArray()).as(n).isEqualTo(s1.get(n).toFloatArray());
            }
            // The newline comes from its own stream of the seed: the same whether the projector was drawn or loaded.
            float[] newline = l.get(InstellaAssembly.IMAGE_NEWLINE, H).toFloatArray();
            assertThat(newline).isEqualTo(f.get(InstellaAssembly.IMAGE_NEWLINE).toFloatArray());
            double mean = 0, sq = 0;
            for (float v : newline) mean += v;
            mean /= H;
            for (float v : newline) sq += (v - mean) * (v - mean);
            double std = Math.sqrt(sq / (H - 1)), expected = 1 / Math.sqrt(H);
            assertThat(std / expected).as("newline std / H^-0.5").isBetween(0.75, 1.25); // 128 samples: ±6% one sigma
            assertThat(Math.abs(mean)).as("newline mean").isLessThan(4 * expected / Math.sqrt(H));
        }
        try (InstellaVL model = InstellaVL.load(loaded)) {
            RgbImage image = ImageDecoder.defaults().decode(Golden.resolve("images/sq336.png"));
            PreparedPrompt p = model.prepare(ChatTemplate.render(List.of(ChatMessage.user("Describe this image.", 1)), true), List.of(image));
            GenerationResult g = new Generator(model).generate(p, GenerationOptions.builder().maxNewTokens(1).ignoreEos(true).build(),
                    null, model.contextLength(), true);
            for (float v : g.promptLastLogits()) assertThat(Float.isFinite(v)).isTrue();
        }
    }

    @Test
    void float32OutputKeepsTheValuesExactly() throws IOException {
        Path out = tmp.resolve("f32");
        InstellaAssembly.Result r = InstellaAssembly.assemble(olmo, clipVision, goldenOptions().withDtype(DType.F32), out);
        assertThat(r.newTensorType()).isEqualTo(DType.F32);
        assertThat(GoldenSplit.JSON.readTree(out.resolve("config.json").toFile()).get("torch_dtype").asText()).isEqualTo("float32");
        assertThat(GoldenSplit.JSON.readTree(out.resolve("vision_tower/config.json").toFile()).get("torch_dtype").asText()).isEqualTo("float32");
        try (Checkpoint a = Checkpoint.open(out); Checkpoint g = Checkpoint.open(GoldenSplit.goldenModel())) {
            for (String n : g.names()) {
                assertThat(a.get(n).dtype()).as(n).isEqualTo(DType.F32);
                assertThat(a.get(n).toFloatArray()).as(n).isEqualTo(g.get(n).toFloatArray()); // BF16 widens exactly
            }
        }
        try (InstellaVL model = InstellaVL.load(out)) {
            checkAgainstGoldenCase(model, "text_only_ascii");
        }
    }

    // ------------------------------------------------------------------ refusals

    @Test
    void refusesAnExistingNonEmptyOutputUnlessTold() throws IOException {
        Path out = Files.createDirectories(tmp.resolve("occupied"));
        Files.writeString(out.resolve("keep.txt"), "previous run");
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage1(1), out))
                .isInstanceOf(AssemblyException.class).hasMessageContaining("already exists and is not empty");
        assertThat(out.resolve("keep.txt")).exists();
        InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage1(1).withOverwrite(true), out);
        assertThat(out.resolve("keep.txt")).doesNotExist();
        assertThat(out.resolve("model.safetensors")).exists();
        // An empty directory is simply filled.
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage1(1), empty);
        assertThat(empty.resolve("config.json")).exists();
        // Overwriting a directory that holds an input would destroy it.
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage1(1).withOverwrite(true), tmp.resolve("sources")))
                .isInstanceOf(AssemblyException.class).hasMessageContaining("would destroy");
    }

    @Test
    void refusesInputsThatAreNotOlmoOrClip() throws IOException {
        Path notOlmo = copyWithConfig(olmo, "llama-like", c -> c.put("model_type", "llama"));
        assertThatThrownBy(() -> InstellaAssembly.assemble(notOlmo, clipVision, InstellaAssembly.Options.stage1(1), tmp.resolve("x1")))
                .isInstanceOf(AssemblyException.class).hasMessageContaining("model_type \"llama\" is not an OLMo language model");
        Path instella = copyWithConfig(olmo, "already-instella", c -> c.put("model_type", "instellavl"));
        assertThatThrownBy(() -> InstellaAssembly.assemble(instella, clipVision, InstellaAssembly.Options.stage1(1), tmp.resolve("x2")))
                .hasMessageContaining("already an Instella-VL checkpoint");
        Path notClip = copyWithConfig(clipVision, "siglip", c -> c.put("model_type", "siglip_vision_model"));
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, notClip, InstellaAssembly.Options.stage1(1), tmp.resolve("x3")))
                .hasMessageContaining("is not a CLIP config");
        // The CLIP directory given as the language model, and the other way round.
        assertThatThrownBy(() -> InstellaAssembly.assemble(clipVision, olmo, InstellaAssembly.Options.stage1(1), tmp.resolve("x4")))
                .hasMessageContaining("clip_vision_model").hasMessageContaining("not an OLMo language model");
        Path wrongLayers = copyWithConfig(olmo, "three-layers", c -> c.put("num_hidden_layers", 3));
        assertThatThrownBy(() -> InstellaAssembly.assemble(wrongLayers, clipVision, InstellaAssembly.Options.stage1(1), tmp.resolve("x5")))
                .hasMessageContaining("missing tensors").hasMessageContaining("model.layers.2.");
        assertThat(tmp.resolve("x1")).doesNotExist();
    }

    @Test
    void refusesMissingFiles() throws IOException {
        Path noTokenizer = copyWithConfig(olmo, "no-tokenizer", c -> { });
        Files.delete(noTokenizer.resolve("tokenizer.json"));
        assertThatThrownBy(() -> InstellaAssembly.assemble(noTokenizer, clipVision, InstellaAssembly.Options.stage1(1), tmp.resolve("y1")))
                .hasMessageContaining("no tokenizer.json");
        Path noWeights = copyWithConfig(clipVision, "no-weights", c -> { });
        Files.delete(noWeights.resolve("model.safetensors"));
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, noWeights, InstellaAssembly.Options.stage1(1), tmp.resolve("y2")))
                .hasMessageContaining("vision tower").hasMessageContaining("no model.safetensors");
        assertThatThrownBy(() -> InstellaAssembly.assemble(tmp.resolve("nowhere"), clipVision, InstellaAssembly.Options.stage1(1), tmp.resolve("y3")))
                .hasMessageContaining("no such directory");
        Path noConfig = Files.createDirectories(tmp.resolve("no-config"));
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, noConfig, InstellaAssembly.Options.stage1(1), tmp.resolve("y4")))
                .hasMessageContaining("no config.json");
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(1, tmp.resolve("mm_projector.bin")), tmp.resolve("y5")))
                .hasMessageContaining("PyTorch pickle").hasMessageContaining("safetensors");
    }

    @Test
    void refusesAProjectorOfOtherModels() throws IOException {
        Path wrong = tmp.resolve("projector-for-other-models.safetensors");
        new SafeTensorsWriter()
                .addFloats("model.mm_projector.0.weight", new float[H * 32], H, 32)
                .addFloats("model.mm_projector.0.bias", new float[H], H)
                .addFloats("model.mm_projector.2.weight", new float[H * H], H, H)
                .addFloats("model.mm_projector.2.bias", new float[H], H)
                .write(wrong);
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(1, wrong), tmp.resolve("z1")))
                .hasMessageContaining("vision tower (hidden size 64)").hasMessageContaining("[128, 64]");
        Path deeper = tmp.resolve("projector-mlp3x.safetensors");
        new SafeTensorsWriter()
                .addFloats("mm_projector.0.weight", new float[H * MM], H, MM).addFloats("mm_projector.0.bias", new float[H], H)
                .addFloats("mm_projector.2.weight", new float[H * H], H, H).addFloats("mm_projector.2.bias", new float[H], H)
                .addFloats("mm_projector.4.weight", new float[H * H], H, H).addFloats("mm_projector.4.bias", new float[H], H)
                .write(deeper);
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(1, deeper), tmp.resolve("z2")))
                .hasMessageContaining("not an mlp2x_gelu projector").hasMessageContaining("mm_projector.4.weight");
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(1, olmo), tmp.resolve("z3")))
                .hasMessageContaining("holds no projector tensors");
        // A bare mm_projector.* file (upstream's mm_projector.bin key style, in safetensors) loads.
        Path bare = tmp.resolve("projector-bare.safetensors");
        float[] w0 = new float[H * MM];
        w0[5] = 0.25f;
        new SafeTensorsWriter()
                .addFloats("mm_projector.0.weight", w0, H, MM).addFloats("mm_projector.0.bias", new float[H], H)
                .addFloats("mm_projector.2.weight", new float[H * H], H, H).addFloats("mm_projector.2.bias", new float[H], H)
                .write(bare);
        Path out = tmp.resolve("z4");
        // Given as a directory that holds just this one file (how a projector-only stage-1 save looks).
        Path projectorOnly = Files.createDirectories(tmp.resolve("stage1-projector-only"));
        Files.copy(bare, projectorOnly.resolve("mm_projector.safetensors"));
        InstellaAssembly.assemble(olmo, clipVision, InstellaAssembly.Options.stage2(1, projectorOnly), out);
        try (Checkpoint c = Checkpoint.open(out)) {
            assertThat(c.get("model.mm_projector.0.weight").dtype()).isEqualTo(DType.BF16);
            assertThat(c.get("model.mm_projector.0.weight").toFloatArray()).isEqualTo(w0);
        }
    }

    @Test
    void refusesANewlineForAFlatMerge() {
        assertThatThrownBy(() -> InstellaAssembly.assemble(olmo, clipVision,
                InstellaAssembly.Options.stage1(1).withImageNewlineFrom(GoldenSplit.goldenModel()), tmp.resolve("w1")))
                .hasMessageContaining("only spatial_unpad uses it");
        assertThatThrownBy(() -> InstellaAssembly.Options.stage1(1).withTunableParts("mm_everything"))
                .isInstanceOf(AssemblyException.class).hasMessageContaining("unknown tunable part");
        assertThatThrownBy(() -> InstellaAssembly.Options.stage1(1).withImageMode("square", "diagonal"))
                .hasMessageContaining("mm_patch_merge_type 'diagonal'");
    }

    // ------------------------------------------------------------------ helpers

    interface ConfigEdit { void apply(ObjectNode c); }

    static Path copyWithConfig(Path src, String name, ConfigEdit edit) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("variants").resolve(name));
        try (Stream<Path> s = Files.list(src)) {
            for (Path f : s.toList()) Files.createSymbolicLink(dir.resolve(f.getFileName()), f);
        }
        ObjectNode c = (ObjectNode) GoldenSplit.JSON.readTree(src.resolve("config.json").toFile());
        edit.apply(c);
        Files.delete(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), GoldenSplit.JSON.writeValueAsString(c));
        return dir;
    }

    static void assertSameTensors(Path assembled, Path golden) {
        try (SafeTensorsFile a = SafeTensorsFile.open(assembled.resolve("model.safetensors"));
             Checkpoint g = Checkpoint.open(golden)) {
            Set<String> names = new TreeSet<>(a.entries().keySet());
            assertThat(names).isEqualTo(new TreeSet<>(g.names()));
            for (String n : names) {
                Tensor x = a.tensor(n), y = g.get(n);
                assertThat(x.dtype()).as(n).isEqualTo(y.dtype());
                assertThat(x.shape()).as(n).isEqualTo(y.shape());
                assertThat(x.data().mismatch(y.data())).as(n + " bytes").isEqualTo(-1);
            }
        }
    }

    /** Uniform(−b, b), b = 1/√fan_in: inside the bound (BF16 rounding may touch it), mean ≈ 0, variance ≈ b²/3. */
    static void checkUniform(Tensor t, int fanIn) {
        float[] v = t.toFloatArray();
        double b = 1 / Math.sqrt(fanIn), mean = 0, sq = 0, max = 0;
        for (float x : v) {
            assertThat(Math.abs(x)).as(t.name()).isLessThanOrEqualTo((float) (b * (1 + 1.0 / 256)));
            mean += x;
            max = Math.max(max, Math.abs(x));
        }
        mean /= v.length;
        for (float x : v) sq += (x - mean) * (x - mean);
        double var = sq / (v.length - 1), sigmaOfMean = b / Math.sqrt(3 * v.length);
        assertThat(Math.abs(mean)).as(t.name() + " mean").isLessThan(5 * sigmaOfMean);
        if (v.length >= 1000) {
            assertThat(var / (b * b / 3)).as(t.name() + " variance / (b²/3)").isBetween(0.9, 1.1);
            assertThat(max).as(t.name() + " reaches the bound").isGreaterThan(0.98 * b);
        } else {
            assertThat(max).as(t.name() + " spread").isGreaterThan(0.8 * b);
        }
    }

    /** One golden case through the assembled model: logits of the last prompt position and the robust greedy steps. */
    static void checkAgainstGoldenCase(InstellaVL model, String name) throws IOException {
        Path dir = Golden.resolve("cases/" + name);
        JsonNode c = GoldenSplit.JSON.readTree(dir.resolve("case.json").toFile());
        List<ChatMessage> msgs = new ArrayList<>();
        JsonNode turns = c.get("turns");
        boolean hasImage = c.hasNonNull("image");
        for (int i = 0; i < turns.size(); i++) {
            msgs.add(ChatMessage.user(turns.get(i).get(0).asText(), i == 0 && hasImage ? 1 : 0));
            if (!turns.get(i).get(1).isNull()) msgs.add(ChatMessage.assistant(turns.get(i).get(1).asText()));
        }
        List<RgbImage> images = hasImage
                ? List.of(ImageDecoder.defaults().decode(Golden.resolve("images/" + c.get("image").asText() + ".png"))) : List.of();
        PreparedPrompt p = model.prepare(ChatTemplate.render(msgs, true), images);
        assertThat(p.sequenceLength()).isEqualTo(c.get("sequence_length_after_merge").asInt());
        GenerationResult r = new Generator(model).generate(p, GenerationOptions.builder().maxNewTokens(16).ignoreEos(true).build(),
                null, model.contextLength(), true);
        try (SafeTensorsFile t = SafeTensorsFile.open(dir.resolve("tensors.safetensors"))) {
            float[] ref = t.tensor("logits_last").toFloatArray(), got = r.promptLastLogits();
            assertThat(got).hasSameSizeAs(ref);
            double max = 0;
            for (int i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(ref[i] - got[i]));
            assertThat(max).as(name + " logits_last max |diff|").isLessThan(2e-3);
        }
        JsonNode margins = c.get("greedy_top1_minus_top2_margin"), greedy = c.get("greedy_ids");
        for (int s = 0; s < greedy.size(); s++) {
            assertThat(r.completionIds()[s]).as(name + " greedy step " + s).isEqualTo(greedy.get(s).asInt());
            if (margins.get(s).asDouble() < 1e-2) break; // later steps may flip on rounding (golden README)
        }
    }
}
