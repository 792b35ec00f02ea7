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
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
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
 * One memory-mapped safetensors file. The whole header is validated on open, at least as strictly as the
 * reference {@code safetensors} crate does: a u64 header length that fits the file; UTF-8 JSON, one object,
 * then only space padding; entries with exactly dtype, shape and data_offsets; offsets that are u64 numbers
 * inside the data section (never wrapped), contiguous from 0 and covering the data exactly; every size product
 * overflow-checked; shape × element size == byte length; no duplicate keys; {@code __metadata__} a map of
 * strings. Quantization metadata ({@code quant.<name>}) is validated the same way. A lying header is reported
 * up front, naming the file and the tensor, instead of becoming a garbage read or a JVM crash later.
 * Tensors are slices of the mapping.
 */
public final class SafeTensorsFile implements AutoCloseable {
    /** safetensors itself refuses headers above 100 MB. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final String METADATA_KEY = "__metadata__";
    private static final java.util.Set<String> ENTRY_KEYS = java.util.Set.of("dtype", "shape", "data_offsets");
    /** Tensors from this size on are mapped with 2 MB pages where the page cache allows it. */
    static final long HUGE_PAGE_TENSOR_BYTES = 2L << 20;

    private static final Charset UTF8 = StandardCharsets.UTF_8;
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
        // Checked before opening: opening a FIFO would block until someone writes to it.
        if (Files.exists(path) && !Files.isRegularFile(path)) {
            throw error(path, null, "is not a regular file (a checkpoint must be a file on disk)");
        }
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
        // The length is a u64: read as signed, anything past 2^63 is negative and so out of range too.
        long headerLen = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw error(path, null, "header length " + Long.toUnsignedString(headerLen) + " is out of range (2.." + MAX_HEADER_BYTES
                    + "): not a safetensors file, or corrupt");
        }
        if (headerLen > size - 8) {
            throw error(path, null, "header length " + headerLen + " exceeds the file size " + size + " (truncated file?)");
        }
        byte[] headerBytes = whole.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header = parseHeader(path, headerBytes);
        MemorySegment data = whole.asSlice(8 + headerLen);
        long dataSize = data.byteSize();
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals(METADATA_KEY)) {
                parseMetadata(path, v, metadata);
                continue;
            }
            entries.put(name, parseEntry(path, name, v, dataSize));
        }
        checkCoverage(path, entries.values(), dataSize);
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

    /**
     * The header as the safetensors crate reads it: UTF-8, exactly one JSON object, then nothing but space (0x20)
     * padding up to the declared length. Duplicate keys are refused (the crate would keep one silently).
     */
    private static JsonNode parseHeader(Path path, byte[] bytes) {
        try {
            UTF8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes));
        } catch (CharacterCodingException e) {
            throw error(path, null, "header is not valid UTF-8 (corrupt file?)");
        }
        if (bytes[0] != '{') {
            throw error(path, null, "header is not a JSON object (it must start with '{'): not a safetensors file, or corrupt");
        }
        JsonNode header;
        long end;
        try (JsonParser p = JSON.getFactory().createParser(bytes)) {
            header = JSON.readTree(p);
            end = p.currentLocation().getByteOffset();
        } catch (IOException e) {
            throw error(path, null, "header is not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (header == null || !header.isObject()) {
            throw error(path, null, "header is not a JSON object");
        }
        for (long i = end; i < bytes.length; i++) {
            if (bytes[(int) i] != ' ') {
                throw error(path, null, "header has " + (bytes.length - end) + " bytes after its JSON object that are not"
                        + " space padding (byte 0x" + String.format("%02x", bytes[(int) i] & 0xFF) + " at header offset " + i
                        + "): corrupt or tampered file");
            }
        }
        return header;
    }

    /** {@code __metadata__}: a map of strings to strings (or null), as the crate's {@code HashMap<String, String>}. */
    private static void parseMetadata(Path path, JsonNode v, Map<String, String> metadata) {
        if (v.isNull()) return;
        if (!v.isObject()) throw error(path, null, METADATA_KEY + " is " + kind(v) + ", expected an object of strings");
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw error(path, null, METADATA_KEY + " entry '" + m.getKey() + "' is " + kind(m.getValue()) + ", expected a string");
            }
            metadata.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static Entry parseEntry(Path path, String name, JsonNode v, long dataSize) {
        if (!v.isObject()) throw error(path, name, "entry is not an object");
        for (Iterator<String> keys = v.fieldNames(); keys.hasNext(); ) {
            String key = keys.next();
            if (!ENTRY_KEYS.contains(key)) {
                throw error(path, name, "entry has an unknown field '" + key + "' (only dtype, shape and data_offsets are allowed)");
            }
        }
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw error(path, name, "missing dtype");
        DType dtype = DType.fromSafetensors(dt.textValue());
        if (dtype == null || !dtype.safetensorsName().equals(dt.textValue())) {
            throw error(path, name, "unknown dtype '" + dt.textValue() + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
        }
        if (sh == null || !sh.isArray()) throw error(path, name, "missing shape");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
                throw error(path, name, "shape has an invalid dimension " + d + " (dimensions are non-negative integers)");
            }
            shape[i] = d.longValue();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw error(path, name, "shape " + sh + " overflows (more than 2^63 elements)");
            }
        }
        if (off == null || !off.isArray() || off.size() != 2) throw error(path, name, "data_offsets must be [begin, end]");
        long begin = offset(path, name, off.get(0), dataSize), end = offset(path, name, off.get(1), dataSize);
        if (end < begin) throw error(path, name, "data_offsets [" + begin + ", " + end + "] end before they begin");
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw error(path, name, "shape " + sh + " of " + dtype + " overflows (more than 2^63 bytes)");
        }
        if (end - begin != expected) {
            throw error(path, name, "holds " + (end - begin) + " bytes but shape " + java.util.Arrays.toString(shape) + " of "
                    + dtype + " needs " + expected);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /**
     * One of data_offsets: a u64 that must lie within the data section. Numbers are checked as written (never
     * wrapped), so 2^64 + 8 is an error, not 8.
     */
    private static long offset(Path path, String name, JsonNode n, long dataSize) {
        if (!n.isIntegralNumber()) throw error(path, name, "data_offsets value " + n + " is not an integer");
        if (n.isBigInteger() ? n.bigIntegerValue().signum() < 0 : n.longValue() < 0) {
            throw error(path, name, "data_offsets value " + n + " is negative");
        }
        if (!n.canConvertToLong() || n.longValue() > dataSize) {
            throw error(path, name, "data_offsets value " + n + " is out of range (data section is " + dataSize
                    + " bytes; truncated file?)");
        }
        return n.longValue();
    }

    /**
     * As the crate's {@code Metadata::validate}: ordered by offsets, the tensors' data must follow each other with
     * no gap and no overlap from byte 0, and the last one must end where the file ends.
     */
    private static void checkCoverage(Path path, java.util.Collection<Entry> all, long dataSize) {
        List<Entry> sorted = new ArrayList<>(all);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expectedBegin = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin < expectedBegin) {
                throw error(path, e.name, "data overlaps tensor '" + previous.name + "' (corrupt header)");
            }
            if (e.begin > expectedBegin) {
                throw error(path, e.name, "data_offsets leave " + (e.begin - expectedBegin) + " unused bytes before it"
                        + " (tensor data must be contiguous; corrupt header)");
            }
            expectedBegin = e.end;
            previous = e;
        }
        if (expectedBegin != dataSize) {
            throw error(path, null, (dataSize - expectedBegin) + " bytes after the last tensor's data are not described by"
                    + " the header (the data section must be exactly covered; corrupt or tampered file)");
        }
    }

    /** Metadata key prefix naming a block-quantized tensor stored as U8: {@code quant.<name>} = {@code Q8_0[rows,cols]}. */
    public static final String QUANT_PREFIX = "quant.";
    private static final java.util.regex.Pattern QUANT_VALUE = java.util.regex.Pattern.compile("^(Q8_0|Q4_0|Q4_0_R8|Q8_0_R8)\\[([0-9]+),([0-9]+)]$");

    /**
     * Re-types the U8 entries that the metadata describes as llama.cpp block-quantized weights (Q8_0/Q4_0,
     * their logical [rows, cols] shape), after checking that they are stored as U8 [rows, bytes per row] and that
     * the bytes are exactly rows × cols/32 blocks (every product overflow-checked).
     */
    private static void applyQuantization(Path path, Map<String, Entry> entries, Map<String, String> metadata) {
        for (Map.Entry<String, String> m : metadata.entrySet()) {
            if (!m.getKey().startsWith(QUANT_PREFIX)) continue;
            String name = m.getKey().substring(QUANT_PREFIX.length());
            Entry e = entries.get(name);
            if (e == null) throw error(path, name, "metadata describes a quantized tensor that is not in the file");
            java.util.regex.Matcher q = QUANT_VALUE.matcher(m.getValue());
            if (!q.matches()) {
                throw error(path, name, "quantization metadata '" + m.getValue() + "' is not Q8_0, Q4_0, Q4_0_R8 or Q8_0_R8[rows,cols]");
            }
            DType type = DType.valueOf(q.group(1));
            long rows = quantDim(path, name, m.getValue(), "rows", q.group(2));
            long cols = quantDim(path, name, m.getValue(), "columns", q.group(3));
            if (cols % type.blockSize() != 0) {
                throw error(path, name, "quantization metadata '" + m.getValue() + "': " + cols + " columns are not whole blocks of "
                        + type.blockSize());
            }
            if (type.isInterleaved() && rows % 8 != 0) {
                throw error(path, name, "quantization metadata '" + m.getValue() + "': " + type + " needs a multiple of 8 rows");
            }
            long rowBytes, bytes;
            try {
                rowBytes = type.bytesFor(cols);
                bytes = Math.multiplyExact(rows, rowBytes);
            } catch (ArithmeticException ex) {
                throw error(path, name, "quantization metadata '" + m.getValue() + "' describes more than 2^63 bytes"
                        + " (corrupt or tampered file)");
            }
            if (e.dtype != DType.U8 || e.end - e.begin != bytes || !java.util.Arrays.equals(e.shape, new long[]{rows, rowBytes})) {
                throw error(path, name, "holds " + (e.end - e.begin) + " bytes of " + e.dtype + " " + java.util.Arrays.toString(e.shape)
                        + ", not the " + type + " blocks of a " + rows + "×" + cols + " matrix (U8 [" + rows + ", " + rowBytes
                        + "]; corrupt or mislabelled file)");
            }
            entries.put(name, new Entry(name, type, new long[]{rows, cols}, e.begin, e.end));
        }
    }

    /** A dimension in quantization metadata: a positive decimal integer that fits an int64. */
    private static long quantDim(Path path, String name, String value, String what, String digits) {
        long d;
        try {
            d = Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw error(path, name, "quantization metadata '" + value + "': " + what + " " + digits
                    + " is larger than 2^63 - 1 (corrupt or tampered file)");
        }
        if (d < 1) throw error(path, name, "quantization metadata '" + value + "': " + what + " must be at least 1");
        return d;
    }

    private static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT, POJO -> "an object";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            default -> "a JSON value";
        };
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
