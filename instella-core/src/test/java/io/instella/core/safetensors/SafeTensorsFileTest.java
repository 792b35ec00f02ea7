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
                    .hasMessageContaining("is not Q8_0, Q4_0, Q4_0_R8 or Q8_0_R8[rows,cols]");
            // Rows interleaved by 8 need a multiple of 8 rows.
            Path oddRows = dir.resolve("odd-r8.safetensors");
            new SafeTensorsWriter().addQuantized("m.w", DType.Q4_0, new long[]{4, 64}, q4::data)
                    .metadata("quant.m.w", "Q4_0_R8[4,64]").write(oddRows);
            assertThatThrownBy(() -> SafeTensorsFile.open(oddRows)).isInstanceOf(SafeTensorsException.class)
                    .hasMessageContaining("m.w");
        }
    }

    // ---- Issue 14: headers as strict as the safetensors crate ----

    /** Header bytes exactly as given (no padding added), then dataBytes zero bytes. */
    private Path file(String name, byte[] header, int dataBytes) throws IOException {
        Path f = dir.resolve(name);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        Files.write(f, b.array());
        return f;
    }

    private Path file(String name, String header, int dataBytes) throws IOException {
        return file(name, header.getBytes(StandardCharsets.UTF_8), dataBytes);
    }

    private static void refused(Path f, String... parts) {
        var a = assertThatThrownBy(() -> SafeTensorsFile.open(f)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining(f.getFileName().toString());
        for (String p : parts) a.hasMessageContaining(p);
    }

    @Test
    void dataOffsetsPast2To64AreRefusedNotWrapped() throws IOException {
        // 2^64 + 8 wraps to 8 in 64 bits; the crate refuses it (not a u64), and so must we.
        refused(file("wrap.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551624]}}", 8),
                "'w'", "data_offsets", "18446744073709551624", "out of range");
        refused(file("wrap0.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551616,18446744073709551624]}}", 8),
                "'w'", "out of range");
        refused(file("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8), "'w'", "negative");
        refused(file("float.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8), "'w'", "not an integer");
        refused(file("backwards.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "'w'", "end before");
        refused(file("bigdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551618],\"data_offsets\":[0,8]}}", 8),
                "'w'", "invalid dimension");
    }

    @Test
    void bytesAfterTheHeaderJsonAreRefused() throws IOException {
        String ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        try (SafeTensorsFile s = SafeTensorsFile.open(file("padded.safetensors", ok + "      ", 8))) {
            assertThat(s.tensor("w").shape()).containsExactly(2);
        }
        refused(file("garbage.safetensors", ok + "  xyz", 8), "not", "space padding", "0x78");
        refused(file("second.safetensors", ok + "{}", 8), "space padding");
        refused(file("newline.safetensors", ok + "\n", 8), "space padding", "0x0a");
        refused(file("nul.safetensors", ok + "\0\0\0", 8), "space padding", "0x00");
        refused(file("lead.safetensors", " " + ok, 8), "must start with");
        byte[] badUtf8 = (ok + "  ").getBytes(StandardCharsets.UTF_8);
        badUtf8[badUtf8.length - 1] = (byte) 0xC3;
        refused(file("utf8.safetensors", badUtf8, 8), "UTF-8");
    }

    @Test
    void entriesMayHoldOnlyDtypeShapeAndOffsets() throws IOException {
        refused(file("extra.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"scale\":2}}", 8),
                "'w'", "unknown field 'scale'");
        refused(file("lower.safetensors", "{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "'w'", "unknown dtype 'f32'");
        refused(file("meta.safetensors", "{\"__metadata__\":{\"format\":1},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "__metadata__", "'format'", "expected a string");
        refused(file("metaarr.safetensors", "{\"__metadata__\":[],\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "__metadata__", "an array");
        refused(file("dup.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "not valid JSON", "w");
        // A real Hugging Face header: metadata {"format": "pt"}, names in any order, offsets in data order.
        try (SafeTensorsFile s = SafeTensorsFile.open(file("hf.safetensors", "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,12]}}", 12))) {
            assertThat(s.metadata()).containsExactly(java.util.Map.entry("format", "pt"));
            assertThat(s.entries()).containsOnlyKeys("a", "b", "e");
        }
    }

    @Test
    void dataMustBeContiguousAndFullyCovered() throws IOException {
        refused(file("gap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "'b'", "unused bytes");
        refused(file("late.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "'a'", "unused bytes");
        refused(file("tail.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12),
                "8 bytes after the last tensor");
        refused(file("emptyhdr.safetensors", "{}", 4), "4 bytes after the last tensor");
        try (SafeTensorsFile s = SafeTensorsFile.open(file("none.safetensors", "{}", 0))) {
            assertThat(s.entries()).isEmpty();
        }
    }

    @Test
    void headerLengthIsAnUnsignedNumberThatMustFit() throws IOException {
        Path f = dir.resolve("u64.safetensors");
        Files.write(f, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-8).putLong(0).array());
        refused(f, "header length 18446744073709551608", "out of range");
    }

    @Test
    void quantMetadataNumbersAreParsedStrictly() throws IOException {
        String u8 = "\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}";
        // rows × bytes(cols) = 128 × 2^57·34 wraps to 0 in 64 bits: must not open as a tensor backed by 0 bytes.
        refused(file("q8wrap.safetensors", "{\"__metadata__\":{\"quant.w\":\"Q8_0[128,4611686018427387904]\"}," + u8 + "}", 0),
                "'w'", "Q8_0[128,4611686018427387904]", "more than 2^63 bytes");
        refused(file("q8big.safetensors", "{\"__metadata__\":{\"quant.w\":\"Q8_0[128,92233720368547758080]\"}," + u8 + "}", 0),
                "'w'", "92233720368547758080", "larger than 2^63 - 1");
        refused(file("q8zero.safetensors", "{\"__metadata__\":{\"quant.w\":\"Q8_0[0,32]\"}," + u8 + "}", 0), "'w'", "at least 1");
        refused(file("q8cols.safetensors", "{\"__metadata__\":{\"quant.w\":\"Q8_0[1,33]\"}," + u8 + "}", 0), "'w'", "whole blocks");
        // Right byte count, wrong U8 shape: refused too (the writer always stores U8 [rows, bytes per row]).
        refused(file("q8shape.safetensors", "{\"__metadata__\":{\"quant.w\":\"Q8_0[2,32]\"},"
                + "\"w\":{\"dtype\":\"U8\",\"shape\":[68],\"data_offsets\":[0,68]}}", 68), "'w'", "U8 [2, 34]");
        try (SafeTensorsFile s = SafeTensorsFile.open(file("q8ok.safetensors", "{\"__metadata__\":{\"quant.w\":\"Q8_0[2,32]\"},"
                + "\"w\":{\"dtype\":\"U8\",\"shape\":[2,34],\"data_offsets\":[0,68]}}", 68))) {
            assertThat(s.tensor("w").dtype()).isEqualTo(DType.Q8_0);
            assertThat(s.tensor("w").shape()).containsExactly(2, 32);
        }
    }

    /** Everything the writer produces (plain, quantized, metadata, empty tensors) passes the strict reader. */
    @Test
    void writerOutputPassesTheStrictReader() throws IOException {
        float[] w = new float[16 * 64];
        for (int i = 0; i < w.length; i++) w[i] = (float) Math.cos(i);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Tensor q8 = io.instella.core.tensor.Quant.quantize(Tensor.ofFloats("q8", w, 16, 64), DType.Q8_0, arena);
            Tensor q4 = io.instella.core.tensor.Quant.quantize(Tensor.ofFloats("q4", w, 16, 64), DType.Q4_0, arena);
            Tensor r8 = io.instella.core.tensor.Quant.repackR8(q4, arena), q8r8 = io.instella.core.tensor.Quant.repackR8(q8, arena);
            Path f = dir.resolve("all.safetensors");
            new SafeTensorsWriter().metadata("format", "pt").add(q8).add(q4)
                    .addQuantized("r8", DType.Q4_0_R8, new long[]{16, 64}, r8::data)
                    .addQuantized("q8r8", DType.Q8_0_R8, new long[]{16, 64}, q8r8::data)
                    .addFloats("empty", new float[0], 0, 3).addBf16("odd", new float[]{1, 2, 3}, 3).addLongs("l", new long[]{5}, 1)
                    .write(f);
            try (SafeTensorsFile s = SafeTensorsFile.open(f)) {
                assertThat(s.tensor("q8").dtype()).isEqualTo(DType.Q8_0);
                assertThat(s.tensor("q4").toFloatArray()).containsExactly(q4.toFloatArray());
                assertThat(s.tensor("r8").dtype()).isEqualTo(DType.Q4_0_R8);
                assertThat(s.tensor("q8r8").dtype()).isEqualTo(DType.Q8_0_R8);
                assertThat(s.tensor("q8r8").toFloatArray()).containsExactly(q8.toFloatArray());
                assertThat(s.tensor("empty").shape()).containsExactly(0, 3);
                assertThat(s.tensor("odd").toFloatArray()).containsExactly(1f, 2f, 3f);
            }
        }
    }

    @Test
    void indexWithANonStringShardName() throws IOException {
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":7}}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("weight_map entry 'a'");
    }

    @Test
    void aDirectoryIsNotASafetensorsFile() {
        assertThatThrownBy(() -> SafeTensorsFile.open(dir)).isInstanceOf(SafeTensorsException.class)
                .hasMessageContaining("not a regular file");
    }
}
