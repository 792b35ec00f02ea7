package io.instella.core.safetensors;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SafeTensorsFileTest {
    @TempDir
    Path dir;

    @Test
    void roundTripsAllWrittenTypes() throws IOException {
        Path f = dir.resolve("a.safetensors");
        new SafeTensorsWriter()
                .addFloats("f", new float[]{1.5f, -2f, 3.25f, 0f}, 2, 2)
                .addBf16("b", new float[]{1f, -0.5f, 3.140625f}, 3)
                .addLongs("i", new long[]{-200, 7}, 2)
                .metadata("format", "pt")
                .write(f);
        try (SafeTensorsFile s = SafeTensorsFile.open(f)) {
            assertThat(s.metadata()).containsEntry("format", "pt");
            assertThat(s.tensor("f").toFloatArray()).containsExactly(1.5f, -2f, 3.25f, 0f);
            assertThat(s.tensor("f").shape()).containsExactly(2, 2);
            assertThat(s.tensor("b").dtype()).isEqualTo(DType.BF16);
            assertThat(s.tensor("b").toFloatArray()).containsExactly(1f, -0.5f, 3.140625f);
            assertThat(s.tensor("i").toLongArray()).containsExactly(-200, 7);
        }
        // the writer leaves no temporary files behind
        try (var l = Files.list(dir)) {
            assertThat(l.map(p -> p.getFileName().toString()).toList()).containsExactly("a.safetensors");
        }
    }

    /** Tensors larger than the writer's 8 MB write blocks, and the header before them, come back byte for byte. */
    @Test
    void tensorsSpanningWriteBlocksRoundTrip() throws IOException {
        Path f = dir.resolve("big.safetensors");
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        float[] big = new float[5_000_003]; // 20 MB: crosses two block boundaries at an odd offset
        for (int i = 0; i < big.length; i++) big[i] = (float) r.nextGaussian();
        float[] small = {1f, 2f, 3f};
        new SafeTensorsWriter().addFloats("small", small, 3).addFloats("big", big, big.length).write(f);
        try (SafeTensorsFile s = SafeTensorsFile.open(f)) {
            assertThat(s.tensor("small").toFloatArray()).containsExactly(small);
            assertThat(java.util.Arrays.equals(s.tensor("big").toFloatArray(), big)).as("big tensor byte for byte").isTrue();
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertThat(Tensor.bf16ToFloat(Tensor.floatToBf16(1.00390625f))).isEqualTo(1.0f); // tie → even
        assertThat(Tensor.bf16ToFloat(Tensor.floatToBf16(1.01171875f))).isEqualTo(1.015625f); // tie → even (up)
        assertThat(Float.isNaN(Tensor.bf16ToFloat(Tensor.floatToBf16(Float.NaN)))).isTrue();
    }

    @Test
    void shardedCheckpointThroughIndex() throws IOException {
        new SafeTensorsWriter().addFloats("a", new float[]{1, 2}, 2).write(dir.resolve("model-00001-of-00002.safetensors"));
        new SafeTensorsWriter().addFloats("b", new float[]{3}, 1).write(dir.resolve("model-00002-of-00002.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertThat(c.names()).containsExactlyInAnyOrder("a", "b");
            assertThat(c.get("b").toFloatArray()).containsExactly(3f);
            assertThatThrownBy(() -> c.checkNames(List.of("a", "c"), List.of()))
                    .isInstanceOf(SafeTensorsException.class)
                    .hasMessageContaining("missing tensors (1): c").hasMessageContaining("unexpected tensors (1): b");
            assertThatThrownBy(() -> c.get("a", 3)).hasMessageContaining("has shape [2]");
        }
    }

    @Test
    void indexNamingAMissingShard() throws IOException {
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\"}}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("model-00001-of-00002.safetensors is missing");
    }

    @Test
    void missingCheckpoint() {
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("no model.safetensors");
    }

    @Test
    void truncatedFile() throws IOException {
        Path good = dir.resolve("g.safetensors");
        new SafeTensorsWriter().addFloats("w", new float[64], 8, 8).write(good);
        byte[] all = Files.readAllBytes(good);
        Path bad = dir.resolve("t.safetensors");
        Files.write(bad, java.util.Arrays.copyOf(all, all.length - 10));
        assertThatThrownBy(() -> SafeTensorsFile.open(bad)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("t.safetensors").hasMessageContaining("'w'").hasMessageContaining("out of range");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[]{1, 2, 3});
        assertThatThrownBy(() -> SafeTensorsFile.open(tiny)).hasMessageContaining("too short");
    }

    @Test
    void hugeHeaderLength() throws IOException {
        Path f = dir.resolve("h.safetensors");
        Files.write(f, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE / 2).putLong(0).array());
        assertThatThrownBy(() -> SafeTensorsFile.open(f)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("header length").hasMessageContaining("out of range");
        Path g = dir.resolve("g.safetensors");
        Files.write(g, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0).array());
        assertThatThrownBy(() -> SafeTensorsFile.open(g)).hasMessageContaining("exceeds the file size");
    }

    @Test
    void lyingHeaders() throws IOException {
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "out of range");
        assertBad("{\"w\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'Q9'");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                12, "overlaps");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8, "invalid dimension");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
        assertBad("{\"w\": [1,2]}", 8, "not an object");
        assertBad("[1,2,3]", 8, "not a JSON object");
        assertBad("{\"w\":{\"dtype\":\"F32\"", 8, "not valid JSON");
        assertBad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904, 4],\"data_offsets\":[0,8]}}", 8, "overflows");
    }

    private void assertBad(String header, int dataBytes, String message) throws IOException {
        Path f = Files.createTempFile(dir, "bad", ".safetensors");
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(f, b.array());
        assertThatThrownBy(() -> SafeTensorsFile.open(f)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining(f.getFileName().toString()).hasMessageContaining(message);
    }

    @Test
    void quantizedTensorsRoundTripAsU8BlocksWithMetadata() throws IOException {
        float[] w = new float[4 * 64];
        for (int i = 0; i < w.length; i++) w[i] = (float) Math.sin(i);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Tensor q4 = io.instella.core.tensor.Quant.quantize(Tensor.ofFloats("m.w", w, 4, 64), DType.Q4_0, arena);
            Path f = dir.resolve("q.safetensors");
            new SafeTensorsWriter().add(q4).addFloats("m.b", new float[]{1, 2}, 2).write(f);
            try (SafeTensorsFile file = SafeTensorsFile.open(f)) {
                assertThat(file.metadata()).containsEntry("quant.m.w", "Q4_0[4,64]");
                Tensor back = file.tensor("m.w");
                assertThat(back.dtype()).isEqualTo(DType.Q4_0);
                assertThat(back.shape()).containsExactly(4, 64);
                assertThat(back.toFloatArray()).containsExactly(q4.toFloatArray());
                assertThat(file.tensor("m.b").dtype()).isEqualTo(DType.F32);
            }
            // Metadata that does not fit the stored bytes is refused with the tensor's name.
            Path bad = dir.resolve("bad.safetensors");
            new SafeTensorsWriter().addQuantized("m.w", DType.Q4_0, new long[]{4, 64}, q4::data)
                    .metadata("quant.m.w", "Q8_0[4,64]").write(bad);
            assertThatThrownBy(() -> SafeTensorsFile.open(bad)).isInstanceOf(SafeTensorsException.class)
                    .hasMessageContaining("m.w").hasMessageContaining("Q8_0 blocks of a 4×64 matrix");
            Path garbled = dir.resolve("garbled.safetensors");
            new SafeTensorsWriter().addQuantized("m.w", DType.Q4_0, new long[]{4, 64}, q4::data)
                    .metadata("quant.m.w", "Q4_0 4x64").write(garbled);
            assertThatThrownBy(() -> SafeTensorsFile.open(garbled)).isInstanceOf(SafeTensorsException.class)
                    .hasMessageContaining("is not Q8_0, Q4_0 or Q4_0_R8[rows,cols]");
            // Rows interleaved by 8 need a multiple of 8 rows.
            Path oddRows = dir.resolve("odd-r8.safetensors");
            new SafeTensorsWriter().addQuantized("m.w", DType.Q4_0, new long[]{4, 64}, q4::data)
                    .metadata("quant.m.w", "Q4_0_R8[4,64]").write(oddRows);
            assertThatThrownBy(() -> SafeTensorsFile.open(oddRows)).isInstanceOf(SafeTensorsException.class)
                    .hasMessageContaining("m.w");
        }
    }
}
