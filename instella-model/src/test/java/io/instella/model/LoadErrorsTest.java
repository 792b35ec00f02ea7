package io.instella.model;

import io.instella.core.safetensors.SafeTensorsException;
import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.random.RandomCheckpoint;
import io.instella.model.tokenizer.TokenizerException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.model.config.ConfigException;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/** A checkpoint that does not fit its config, or lacks a file, is refused with a message that says why. */
class LoadErrorsTest {
    @TempDir
    Path dir;

    @TempDir
    static Path shared;
    private static Path template;

    /** A fresh copy of the tiny random model (written once per class: copying is faster than generating). */
    private Path tinyModel() throws IOException {
        synchronized (LoadErrorsTest.class) {
            if (template == null) {
                Path t = shared.resolve("tiny");
                RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, t, Golden.resolve("model/tokenizer.json"), 3, DType.BF16);
                template = t;
            }
        }
        try (var files = Files.walk(template)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path target = dir.resolve(template.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dir;
    }

    @Test
    void randomTinyModelLoadsAndKnowsItsImageTokens() throws IOException {
        try (InstellaVL m = InstellaVL.load(tinyModel())) {
            assertThat(m.supportsImages()).isTrue();
            assertThat(m.imageTokenCount(640, 480)).isEqualTo(2340);
            assertThat(m.imageTokenCount(3000, 200)).isEqualTo(1544);
            assertThat(m.imageTokenCount(336, 1000)).isEqualTo(2376);
        }
    }

    @Test
    void configWithMoreLayersThanTheWeights() throws IOException {
        Path m = tinyModel();
        String cfg = Files.readString(m.resolve("config.json")).replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 3");
        Files.writeString(m.resolve("config.json"), cfg);
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("missing tensors (7)").hasMessageContaining("model.layers.2.mlp.down_proj.weight");
    }

    @Test
    void configWithAnotherWidth() throws IOException {
        Path m = tinyModel();
        Files.writeString(m.resolve("config.json"), Files.readString(m.resolve("config.json"))
                .replace("\"intermediate_size\" : 512", "\"intermediate_size\" : 256"));
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("mlp.gate_proj.weight").hasMessageContaining("[512, 128]").hasMessageContaining("[256, 128]");
    }

    @Test
    void missingTokenizer() throws IOException {
        Path m = tinyModel();
        Files.delete(m.resolve("tokenizer.json"));
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(InstellaException.class).hasMessageContaining("no tokenizer.json");
    }

    @Test
    void corruptTokenizer() throws IOException {
        Path m = tinyModel();
        Files.writeString(m.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\"}}");
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(TokenizerException.class).hasMessageContaining("tokenizer.json");
    }

    @Test
    void weightsOfTheWrongKind() throws IOException {
        Path m = tinyModel();
        Files.writeString(m.resolve("model.safetensors"), "not a checkpoint at all, just text of some length");
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class).hasMessageContaining("model.safetensors");
    }

    // ---- Issue 14: numbers read from files are not trusted (each case listed under "Why") ----

    private static final ObjectMapper JSON = new ObjectMapper();

    private void editConfig(Path m, String from, String to) throws IOException {
        String cfg = Files.readString(m.resolve("config.json"));
        assertThat(cfg).contains(from);
        Files.writeString(m.resolve("config.json"), cfg.replace(from, to));
    }

    /** "eos_token_id": [] used to end in a NullPointerException (exit code 70 with a stack trace). */
    @Test
    void emptyEosTokenIdListLoads() throws IOException {
        Path m = tinyModel();
        editConfig(m, "\"eos_token_id\" : 50279", "\"eos_token_id\" : [ ]");
        Files.writeString(m.resolve("generation_config.json"), "{\"eos_token_id\": []}");
        try (InstellaVL vl = InstellaVL.load(m)) {
            assertThat(vl.config().eosTokenIds()).isEmpty();
            // Neither config names one: the tokenizer's eos_token (the other fallbacks: ConfigFieldsTest).
            assertThat(vl.generationDefaults().eosTokenIds()).containsExactly(50279);
        }
    }

    /** "num_hidden_layers": 2147483647 used to give no answer within 100 s while memory grew to 6 GB. */
    @Test
    void absurdLayerCountIsAClearErrorAtOnce() throws IOException {
        Path m = tinyModel();
        editConfig(m, "\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 2147483647");
        long t0 = System.nanoTime();
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThatThrownBy(() -> InstellaVL.load(m))
                .isInstanceOf(ConfigException.class).hasMessageContaining(m.resolve("config.json").toString())
                .hasMessageContaining("'num_hidden_layers' = 2147483647 is out of range"));
        assertThat((System.nanoTime() - t0) / 1e9).as("seconds to refuse").isLessThan(10);
    }

    /** Within the bounds but not what the checkpoint holds: refused from the header, with both counts. */
    @Test
    void layerCountThatDoesNotMatchTheCheckpoint() throws IOException {
        Path m = tinyModel();
        editConfig(m, "\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 1024");
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThatThrownBy(() -> InstellaVL.load(m))
                .isInstanceOf(SafeTensorsException.class).hasMessageContaining("missing tensors (7154)")
                .hasMessageContaining("num_hidden_layers = 1024; the checkpoint has 2 decoder layers"));
        editConfig(m, "\"num_hidden_layers\" : 1024", "\"num_hidden_layers\" : 1");
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("unexpected tensors (7)").hasMessageContaining("the checkpoint has 2 decoder layers");
    }

    /** A tokenizer id of 2147483647 used to end in NegativeArraySizeException. */
    @Test
    void tokenizerIdsBeyondTheVocabulary() throws IOException {
        Path m = tinyModel();
        Path tok = m.resolve("tokenizer.json");
        String original = Files.readString(tok);
        String entry = "\"<|padding|>\": 1,";
        assertThat(original).contains(entry);
        Files.writeString(tok, original.replace(entry, entry + " \"zzzz\": 2147483647,"));
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(tok.toString()).hasMessageContaining("vocab entry \"zzzz\" has id 2147483647")
                .hasMessageContaining("vocab_size 50304");
        // 50304 would fit a tokenizer on its own, but not this model's embeddings.
        Files.writeString(tok, original.replace(entry, entry + " \"zzzz\": 50304,"));
        assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining("vocab entry \"zzzz\" has id 50304");
    }

    /** Rewrites the header of a safetensors file (keeping its data), then appends padding as given. */
    private static void rewriteHeader(Path file, Consumer<ObjectNode> change, String padding) throws IOException {
        byte[] all = Files.readAllBytes(file);
        int n = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectNode header = (ObjectNode) JSON.readTree(new String(all, 8, n, StandardCharsets.UTF_8));
        change.accept(header);
        byte[] h = (JSON.writeValueAsString(header) + padding).getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + all.length - 8 - n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(all, 8 + n, all.length - 8 - n);
        Files.write(file, out.array());
    }

    /** The name of the tensor whose data starts at byte 0. */
    private static String firstTensor(ObjectNode header) {
        for (Iterator<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = header.fields(); it.hasNext(); ) {
            var e = it.next();
            if (e.getValue().has("data_offsets") && e.getValue().get("data_offsets").get(0).asLong() == 0) return e.getKey();
        }
        throw new AssertionError("no tensor at offset 0");
    }

    private void assertWeightsRefused(Path m, String... parts) {
        var a = assertThatThrownBy(() -> InstellaVL.load(m)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining(m.resolve("model.safetensors").toString());
        for (String p : parts) a.hasMessageContaining(p);
    }

    @Test
    void the64BitHeaderLoadsUnchangedThroughTheRewriter() throws IOException {
        Path m = tinyModel();
        rewriteHeader(m.resolve("model.safetensors"), h -> {}, "    ");
        try (io.instella.core.safetensors.Checkpoint c = io.instella.core.safetensors.Checkpoint.open(m)) {
            assertThat(c.metadata()).containsEntry("format", "pt");
            assertThat(c.names()).contains("model.embed_tokens.weight", "model.image_newline");
        }
    }

    /** data_offsets past 2^64 used to wrap silently to valid offsets, and the file loaded. */
    @Test
    void dataOffsetsPast2To64() throws IOException {
        Path m = tinyModel();
        String[] name = new String[1];
        rewriteHeader(m.resolve("model.safetensors"), h -> {
            name[0] = firstTensor(h);
            var off = (com.fasterxml.jackson.databind.node.ArrayNode) h.get(name[0]).get("data_offsets");
            off.set(0, BigInteger.ONE.shiftLeft(64)); // 2^64 ≡ 0
        }, "");
        assertWeightsRefused(m, "'" + name[0] + "'", "data_offsets", "18446744073709551616", "out of range");
    }

    /** Bytes after the header's JSON object used to be ignored. */
    @Test
    void bytesAfterTheHeaderJson() throws IOException {
        Path m = tinyModel();
        rewriteHeader(m.resolve("model.safetensors"), h -> {}, "  {\"x\": 1}");
        assertWeightsRefused(m, "not space padding");
    }

    /** A quantization metadata number past int64 used to throw NumberFormatException. */
    @Test
    void quantMetadataNumberPastInt64() throws IOException {
        Path m = tinyModel();
        rewriteHeader(m.resolve("model.safetensors"), h -> {
            ((ObjectNode) h.get("__metadata__")).put("quant.model.image_newline", "Q8_0[1,99999999999999999999]");
        }, "");
        assertWeightsRefused(m, "'model.image_newline'", "99999999999999999999", "larger than 2^63 - 1");
    }

    /** Q8_0[128, 4611686018427387904]: rows × bytes(cols) wrapped to 0, and the tensor opened backed by 0 bytes. */
    @Test
    void quantTensorWhoseSizeOverflows() throws IOException {
        Path m = tinyModel();
        rewriteHeader(m.resolve("model.safetensors"), h -> {
            ObjectNode fake = h.putObject("model.fake");
            fake.put("dtype", "U8");
            fake.putArray("shape").add(0);
            fake.putArray("data_offsets").add(0).add(0);
            ((ObjectNode) h.get("__metadata__")).put("quant.model.fake", "Q8_0[128,4611686018427387904]");
        }, "");
        assertWeightsRefused(m, "'model.fake'", "Q8_0[128,4611686018427387904]", "more than 2^63 bytes");
    }
}
