package io.instella.train.checkpoint;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.train.params.Parameter;
import io.instella.train.params.ParameterSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FinalModelWriterTest {
    private static final List<String> TRAINED = List.of("model.mm_projector.0.weight", "model.mm_projector.0.bias",
            "model.mm_projector.2.weight", "model.mm_projector.2.bias", "model.image_newline");

    @TempDir
    Path tmp;

    /** The tiny golden model copied (not committed), and a parameter set of its projector moved a little. */
    private Path copyGoldenModel() throws IOException {
        Path src = Golden.resolve("model"), dst = tmp.resolve("base");
        try (Stream<Path> s = Files.walk(src)) {
            for (Path p : s.toList()) {
                Path t = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
        return dst;
    }

    private static ParameterSet trainedFrom(Path base) {
        ParameterSet set = new ParameterSet();
        try (Checkpoint cp = Checkpoint.open(base)) {
            for (String n : TRAINED) {
                Parameter p = Parameter.copyOf(cp.get(n));
                float[] v = p.value();
                for (int i = 0; i < v.length; i++) v[i] += 0.001f * ((i % 7) - 3) + 1e-5f; // not BF16-representable
                set.add(p);
            }
        }
        return set;
    }

    private static boolean sameBytes(Tensor a, Tensor b) {
        return a.dtype() == b.dtype() && java.util.Arrays.equals(a.shape(), b.shape())
                && MemorySegment.mismatch(a.data(), 0, a.data().byteSize(), b.data(), 0, b.data().byteSize()) == -1;
    }

    @Test
    void finalModelLoadsAndHoldsTheTrainedValuesAndTheFrozenOnesAsStored() throws IOException {
        Path base = copyGoldenModel();
        ParameterSet trained = trainedFrom(base);
        Path out = tmp.resolve("run");
        FinalModelWriter.write(out, base, trained, DType.F32, null);

        try (InstellaVL model = InstellaVL.load(out)) {
            assertThat(model.config().text().hiddenSize()).isEqualTo(128);
        }
        try (SafeTensorsFile written = SafeTensorsFile.open(out.resolve("model.safetensors"));
             Checkpoint original = Checkpoint.open(base)) {
            assertThat(written.entries().keySet()).containsExactlyInAnyOrderElementsOf(original.names());
            for (String n : original.names()) {
                Tensor t = written.tensor(n);
                if (TRAINED.contains(n)) {
                    assertThat(t.dtype()).isEqualTo(DType.F32);
                    assertThat(t.toFloatArray()).as(n).isEqualTo(trained.get(n).value());
                } else {
                    assertThat(sameBytes(t, original.get(n))).as(n).isTrue();
                }
            }
        }
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "vision_tower/config.json", "vision_tower/preprocessor_config.json")) {
            assertThat(Files.readAllBytes(out.resolve(f))).as(f).isEqualTo(Files.readAllBytes(base.resolve(f)));
        }
        assertThat(out.resolve("vision_tower/model.safetensors")).doesNotExist(); // the tower's weights are in model.safetensors
        try (Stream<Path> s = Files.list(out)) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
        }
    }

    @Test
    void storedTypeByDefaultAndAReplacementConfig() throws IOException {
        Path base = copyGoldenModel();
        ParameterSet trained = trainedFrom(base);
        Path out = tmp.resolve("run");
        String config = Files.readString(base.resolve("config.json")).replace("\"mm_tunable_parts\": \"mm_vision_tower,mm_mlp_adapter,mm_language_model\"",
                "\"mm_tunable_parts\": \"mm_mlp_adapter\"");
        assertThat(config).contains("\"mm_tunable_parts\": \"mm_mlp_adapter\"");
        try (Checkpoint cp = Checkpoint.open(base)) {
            FinalModelWriter.write(out, base, cp, trained, null, config,
                    dir -> Files.writeString(dir.resolve("README.md"), "trained"));
        }
        assertThat(Files.readString(out.resolve("config.json"))).isEqualTo(config);
        assertThat(Files.readString(out.resolve("README.md"))).isEqualTo("trained");
        try (InstellaVL model = InstellaVL.load(out);
             SafeTensorsFile written = SafeTensorsFile.open(out.resolve("model.safetensors"))) {
            Tensor w = written.tensor("model.mm_projector.2.weight");
            assertThat(w.dtype()).isEqualTo(DType.BF16); // the golden checkpoint is BF16
            float[] v = trained.get("model.mm_projector.2.weight").value();
            for (int i = 0; i < v.length; i++) {
                assertThat(w.data().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i)).isEqualTo(Tensor.floatToBf16(v[i]));
            }
        }
        // writing again over the same output directory replaces the model
        trained.get("model.image_newline").value()[0] = 42f;
        FinalModelWriter.write(out, base, trained, DType.F32, null);
        try (SafeTensorsFile written = SafeTensorsFile.open(out.resolve("model.safetensors"))) {
            assertThat(written.tensor("model.image_newline").getFloat(0)).isEqualTo(42f);
        }
    }

    @Test
    void refusesToOverwriteTheBaseModelAndABadConfig() throws IOException {
        Path base = copyGoldenModel();
        ParameterSet trained = trainedFrom(base);
        assertThatThrownBy(() -> FinalModelWriter.write(base, base, trained, DType.F32, null))
                .hasMessageContaining("is the base model's directory");
        assertThatThrownBy(() -> FinalModelWriter.write(tmp.resolve("o"), base, trained, DType.F32, "[1, 2]"))
                .hasMessageContaining("not a JSON object");
        ParameterSet wrongShape = new ParameterSet();
        wrongShape.add(new Parameter("model.image_newline", new long[]{3}, DType.F32, new float[3]));
        assertThatThrownBy(() -> FinalModelWriter.write(tmp.resolve("o2"), base, wrongShape, DType.F32, null))
                .hasMessageContaining("model.image_newline").hasMessageContaining("[3]").hasMessageContaining("[128]");
        try (Stream<Path> s = Files.list(tmp.resolve("o2"))) {
            assertThat(s.toList()).isEmpty(); // the temporary directory is gone
        }
    }
}
