package io.instella.train.lora;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files byte by byte from the format's specification (8-byte little-endian header length, JSON
 * header, raw data), independently of the project's writer: the fixtures stand in for files that peft's
 * {@code safe_save_file} writes.
 */
final class PeftFiles {
    private PeftFiles() {}

    record Raw(String dtype, long[] shape, byte[] data) {}

    static Raw f32(float[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return new Raw("F32", shape, b.array());
    }

    /** BF16 by truncating exactly representable values (the tests choose values with 8 significant bits). */
    static Raw bf16(float[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
        return new Raw("BF16", shape, b.array());
    }

    static void write(Path file, Map<String, Raw> tensors, Map<String, String> metadata) throws IOException {
        StringBuilder h = new StringBuilder("{");
        List<String> parts = new ArrayList<>();
        if (!metadata.isEmpty()) {
            List<String> m = new ArrayList<>();
            metadata.forEach((k, v) -> m.add("\"" + k + "\":\"" + v + "\""));
            parts.add("\"__metadata__\":{" + String.join(",", m) + "}");
        }
        long offset = 0;
        for (Map.Entry<String, Raw> e : tensors.entrySet()) {
            Raw r = e.getValue();
            StringBuilder shape = new StringBuilder();
            for (int i = 0; i < r.shape().length; i++) shape.append(i == 0 ? "" : ",").append(r.shape()[i]);
            parts.add("\"" + e.getKey() + "\":{\"dtype\":\"" + r.dtype() + "\",\"shape\":[" + shape + "],\"data_offsets\":["
                    + offset + "," + (offset + r.data().length) + "]}");
            offset += r.data().length;
        }
        h.append(String.join(",", parts)).append("}");
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate((int) (8 + header.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header);
        for (Raw r : tensors.values()) out.put(r.data());
        Files.write(file, out.array());
    }

    /** The JSON header of a safetensors file, read by hand (for key-name checks). */
    static String header(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(all, 8, (int) n, StandardCharsets.UTF_8);
    }

    static Map<String, Raw> tensors() {
        return new LinkedHashMap<>();
    }
}
