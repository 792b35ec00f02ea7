package io.instella.core.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One memory-mapped safetensors file. The whole header is validated on open (offsets in range and
 * non-overlapping, known dtypes, shape × element size == byte length), so a lying header is reported
 * up front instead of becoming a garbage read or a JVM crash later. Tensors are slices of the mapping.
 */
public final class SafeTensorsFile implements AutoCloseable {
    /** safetensors itself refuses headers above 100 MB. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    /** Tensors from this size on are mapped with 2 MB pages where the page cache allows it. */
    static final long HUGE_PAGE_TENSOR_BYTES = 2L << 20;

    private static final ObjectMapper JSON = new ObjectMapper();
    static {
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxStringLength((int) MAX_HEADER_BYTES).build());
        JSON.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    }

    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {}

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path path, Arena arena, MemorySegment data, Map<String, Entry> entries, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.entries = entries;
        this.metadata = metadata;
    }

    public static SafeTensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            return open(path, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafeTensorsFile open(Path path, Arena arena) {
        MemorySegment whole;
        long size;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            size = ch.size();
            if (size < 8) {
                throw error(path, null, "file is " + size + " bytes, too short for a safetensors header (truncated download?)");
            }
            whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new SafeTensorsException(path + ": file not found");
        } catch (IOException e) {
            throw new SafeTensorsException(path + ": cannot read (" + e.getMessage() + ")", e);
        }
        long headerLen = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw error(path, null, "header length " + headerLen + " is out of range (2.." + MAX_HEADER_BYTES
                    + "): not a safetensors file, or corrupt");
        }
        if (8 + headerLen > size) {
            throw error(path, null, "header length " + headerLen + " exceeds the file size " + size + " (truncated file?)");
        }
        byte[] headerBytes = whole.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw error(path, null, "header is not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (header == null || !header.isObject()) {
            throw error(path, null, "header is not a JSON object");
        }
        MemorySegment data = whole.asSlice(8 + headerLen);
        long dataSize = data.byteSize();
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw error(path, null, "__metadata__ is not an object");
                v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().isTextual() ? m.getValue().asText() : m.getValue().toString()));
                continue;
            }
            entries.put(name, parseEntry(path, name, v, dataSize));
        }
        checkOverlaps(path, entries.values());
        applyQuantization(path, entries, metadata);
        // 2 MB pages for the large tensors only (see MappedMemory.hugePages): a 2 MB entry mapped for a small tensor
        // read once at load (a bias, a norm) would keep its large neighbours resident even when they are never used.
        // Large tensors first, then the small ones, so that a page shared by a small and a large tensor stays small.
        // A file under 2 MB cannot hold a 2 MB page: no advice (and no system calls) at all.
        if (size >= HUGE_PAGE_TENSOR_BYTES) {
            MappedMemory.noHugePages(whole);
            for (Entry e : entries.values()) {
                if (e.end() - e.begin() >= HUGE_PAGE_TENSOR_BYTES) MappedMemory.hugePages(data.asSlice(e.begin(), e.end() - e.begin()));
            }
            for (Entry e : entries.values()) {
                if (e.end() - e.begin() < HUGE_PAGE_TENSOR_BYTES) MappedMemory.noHugePages(data.asSlice(e.begin(), e.end() - e.begin()));
            }
        }
        return new SafeTensorsFile(path, arena, data, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
    }

    private static Entry parseEntry(Path path, String name, JsonNode v, long dataSize) {
        if (!v.isObject()) throw error(path, name, "entry is not an object");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw error(path, name, "missing dtype");
        DType dtype = DType.fromSafetensors(dt.asText());
        if (dtype == null) throw error(path, name, "unknown dtype '" + dt.asText() + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
        if (sh == null || !sh.isArray()) throw error(path, name, "missing shape");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) throw error(path, name, "shape has an invalid dimension " + d);
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw error(path, name, "shape overflows");
            }
        }
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()) {
            throw error(path, name, "data_offsets must be [begin, end]");
        }
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > dataSize) {
            throw error(path, name, "data_offsets [" + begin + ", " + end + "] out of range (data section is " + dataSize
                    + " bytes; truncated file?)");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw error(path, name, "shape overflows");
        }
        if (end - begin != expected) {
            throw error(path, name, "holds " + (end - begin) + " bytes but shape " + java.util.Arrays.toString(shape) + " of "
                    + dtype + " needs " + expected);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /** Metadata key prefix naming a block-quantized tensor stored as U8: {@code quant.<name>} = {@code Q8_0[rows,cols]}. */
    public static final String QUANT_PREFIX = "quant.";
    private static final java.util.regex.Pattern QUANT_VALUE = java.util.regex.Pattern.compile("^(Q8_0|Q4_0|Q4_0_R8)\\[(\\d+),(\\d+)]$");

    /**
     * Re-types the U8 entries that the metadata describes as llama.cpp block-quantized weights (Q8_0/Q4_0,
     * their logical [rows, cols] shape), after checking that the bytes are exactly rows × cols/32 blocks.
     */
    private static void applyQuantization(Path path, Map<String, Entry> entries, Map<String, String> metadata) {
        for (Map.Entry<String, String> m : metadata.entrySet()) {
            if (!m.getKey().startsWith(QUANT_PREFIX)) continue;
            String name = m.getKey().substring(QUANT_PREFIX.length());
            Entry e = entries.get(name);
            if (e == null) throw error(path, name, "metadata describes a quantized tensor that is not in the file");
            java.util.regex.Matcher q = QUANT_VALUE.matcher(m.getValue());
            if (!q.matches()) {
                throw error(path, name, "quantization metadata '" + m.getValue() + "' is not Q8_0, Q4_0 or Q4_0_R8[rows,cols]");
            }
            DType type = DType.valueOf(q.group(1));
            long rows = Long.parseLong(q.group(2)), cols = Long.parseLong(q.group(3));
            if (e.dtype != DType.U8 || cols % type.blockSize() != 0 || type == DType.Q4_0_R8 && rows % 8 != 0
                    || e.end - e.begin != rows * type.bytesFor(cols)) {
                throw error(path, name, "holds " + (e.end - e.begin) + " bytes of " + e.dtype + ", not the " + type
                        + " blocks of a " + rows + "×" + cols + " matrix (corrupt or mislabelled file)");
            }
            entries.put(name, new Entry(name, type, new long[]{rows, cols}, e.begin, e.end));
        }
    }

    private static void checkOverlaps(Path path, java.util.Collection<Entry> all) {
        List<Entry> sorted = new ArrayList<>(all);
        sorted.removeIf(e -> e.begin == e.end);
        sorted.sort(Comparator.comparingLong(Entry::begin));
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1), b = sorted.get(i);
            if (b.begin < a.end) {
                throw error(path, b.name, "data overlaps tensor '" + a.name + "' (corrupt header)");
            }
        }
    }

    static SafeTensorsException error(Path path, String tensor, String what) {
        return new SafeTensorsException(path + (tensor == null ? "" : " [tensor '" + tensor + "']") + ": " + what);
    }

    public Path path() { return path; }

    public Map<String, Entry> entries() { return entries; }

    public Map<String, String> metadata() { return metadata; }

    public boolean contains(String name) { return entries.containsKey(name); }

    /** The tensor, as a view of the mapped file (no copy). */
    public Tensor tensor(String name) {
        Entry e = entries.get(name);
        if (e == null) throw error(path, name, "no such tensor");
        return new Tensor(name, e.dtype, e.shape, data.asSlice(e.begin, e.end - e.begin));
    }

    @Override
    public void close() {
        arena.close();
    }
}
