package io.instella.core.fuzz;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Mutation strategies: byte-level (AFL-style "havoc": bit flips, interesting values, inserts, deletes,
 * truncations, splices, chunk copies), numbers in text replaced by boundary values, header fields at known
 * offsets set to boundary values, and JSON tree mutations (wrong types, boundary numbers, deep nesting, huge
 * strings, removed and unknown keys).
 */
public final class Mutators {
    private Mutators() {}

    /** Makes one test case from a seed; {@code all} are the other seeds (for splicing). */
    @FunctionalInterface
    public interface Mutator {
        byte[] mutate(byte[] seed, List<byte[]> all, Random random);
    }

    /** Boundary integers: 0, -1, 1, 2^7..2^64 edges, and a few "large but plausible" dimensions. */
    static final long[] INTERESTING = {
            0, -1, 1, 2, 7, 8, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 1 << 14, 4096, 4900, 16384, 65535,
            0x7FFFFFFFL, 0x80000000L, 0xFFFFFFFFL, 0x100000000L, Long.MAX_VALUE, Long.MIN_VALUE,
            1L << 62, 1L << 53, 1L << 40, 1000000, 100000000
    };

    /** The same as text, plus numbers past 64 bits and floats that JSON readers treat specially. */
    static final String[] INTERESTING_TEXT = {
            "0", "-1", "1", "2", "-0", "255", "256", "4096", "4900", "65535", "65536", "2147483647", "2147483648",
            "-2147483648", "-2147483649", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "18446744073709551615", "18446744073709551616", "36893488147419103232",
            "4611686018427387904", "1e308", "1e309", "-1e309", "1.5", "0.5", "1e-400", "NaN", "Infinity", "-Infinity",
            "99999999999999999999999999999999999999999", "0x10", "1E2", "007"
    };

    /** Byte-level havoc: 1 to 4 stacked random operations. */
    public static Mutator bytes() {
        return (seed, all, random) -> {
            byte[] b = seed;
            int ops = 1 + random.nextInt(4);
            for (int i = 0; i < ops; i++) b = havocOnce(b, all, random, headBias(random));
            return b;
        };
    }

    /** Byte havoc plus, half of the time, a boundary value at one of the header fields {@code fields} finds. */
    public static Mutator withFields(FieldFinder fields) {
        Mutator havoc = bytes();
        return (seed, all, random) -> {
            if (random.nextBoolean()) return havoc.mutate(seed, all, random);
            byte[] b = seed.clone();
            List<Field> found = fields.find(b);
            int n = 1 + random.nextInt(2);
            for (int i = 0; i < n && !found.isEmpty(); i++) {
                Field f = found.get(random.nextInt(found.size()));
                long v = random.nextInt(4) == 0 ? random.nextLong() : INTERESTING[random.nextInt(INTERESTING.length)];
                f.write(b, v);
            }
            if (random.nextInt(4) == 0) b = havocOnce(b, all, random, headBias(random));
            return b;
        };
    }

    /** A numeric field of a binary header: offset, width in bytes (1, 2, 3, 4 or 8), byte order. */
    public record Field(int offset, int width, boolean littleEndian, int bitShift, int bits) {
        public static Field le(int offset, int width) {
            return new Field(offset, width, true, 0, width * 8);
        }

        public static Field be(int offset, int width) {
            return new Field(offset, width, false, 0, width * 8);
        }

        /** A bit field inside a little-endian word, e.g. VP8L's 14-bit width. */
        public static Field bitsLe(int offset, int width, int shift, int bits) {
            return new Field(offset, width, true, shift, bits);
        }

        void write(byte[] b, long value) {
            if (offset < 0 || offset + width > b.length) return;
            long word = 0;
            for (int i = 0; i < width; i++) {
                int idx = littleEndian ? offset + i : offset + width - 1 - i;
                word |= (b[idx] & 0xFFL) << (8 * i);
            }
            long mask = bits >= 64 ? -1L : ((1L << bits) - 1) << bitShift;
            word = (word & ~mask) | ((value << bitShift) & mask);
            for (int i = 0; i < width; i++) {
                int idx = littleEndian ? offset + i : offset + width - 1 - i;
                b[idx] = (byte) (word >>> (8 * i));
            }
        }
    }

    /** Finds the interesting numeric fields of a (possibly already mutated) file. */
    @FunctionalInterface
    public interface FieldFinder {
        List<Field> find(byte[] file);
    }

    /** Text with numbers: replaces digit runs by boundary numbers, then maybe byte havoc. */
    public static Mutator numbersInText() {
        Mutator havoc = bytes();
        return (seed, all, random) -> {
            if (random.nextInt(3) == 0) return havoc.mutate(seed, all, random);
            String s = new String(seed, StandardCharsets.ISO_8859_1);
            List<int[]> runs = new ArrayList<>();
            for (int i = 0; i < s.length(); ) {
                if (Character.isDigit(s.charAt(i)) || s.charAt(i) == '-' && i + 1 < s.length() && Character.isDigit(s.charAt(i + 1))) {
                    int j = i + 1;
                    while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '.' || s.charAt(j) == 'e')) j++;
                    runs.add(new int[]{i, j});
                    i = j;
                } else {
                    i++;
                }
            }
            if (runs.isEmpty()) return havoc.mutate(seed, all, random);
            StringBuilder sb = new StringBuilder(s);
            int n = 1 + random.nextInt(2);
            for (int k = 0; k < n; k++) {
                int[] r = runs.get(random.nextInt(runs.size()));
                if (r[1] > sb.length()) continue;
                sb.replace(r[0], r[1], INTERESTING_TEXT[random.nextInt(INTERESTING_TEXT.length)]);
                break; // offsets of later runs moved; one replacement per pass keeps them valid
            }
            return sb.toString().getBytes(StandardCharsets.ISO_8859_1);
        };
    }

    private static final JsonMapper LENIENT = JsonMapper.builder().build();
    static {
        LENIENT.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(200_000).maxNumberLength(100_000).maxStringLength(50_000_000).build());
    }

    /**
     * JSON-aware: parses the seed (when it is JSON) and applies 1 to 3 tree mutations, sometimes followed by byte
     * havoc or a number-in-text replacement; non-JSON seeds get byte havoc.
     */
    public static Mutator json() {
        Mutator havoc = bytes();
        Mutator numbers = numbersInText();
        return (seed, all, random) -> {
            int mode = random.nextInt(10);
            if (mode == 0) return havoc.mutate(seed, all, random);
            if (mode == 1) return numbers.mutate(seed, all, random);
            JsonNode root;
            try {
                root = LENIENT.readTree(seed);
            } catch (Exception e) {
                return havoc.mutate(seed, all, random);
            }
            if (root == null || !root.isContainerNode()) return havoc.mutate(seed, all, random);
            int ops = 1 + random.nextInt(3);
            for (int i = 0; i < ops; i++) root = mutateTree(root, random);
            byte[] out;
            try {
                out = LENIENT.writeValueAsBytes(root);
            } catch (JsonProcessingException e) {
                return havoc.mutate(seed, all, random);
            }
            out = expandDeepMarkers(out);
            if (random.nextInt(8) == 0) out = havocOnce(out, all, random, false);
            if (random.nextInt(12) == 0) out = duplicateKey(out, random);
            return out;
        };
    }

    /** Replaces, removes or adds one node somewhere in the tree. Returns the (possibly new) root. */
    static JsonNode mutateTree(JsonNode root, Random random) {
        List<JsonNode> containers = new ArrayList<>();
        collect(root, containers, 0);
        JsonNode parent = containers.get(random.nextInt(containers.size()));
        if (parent instanceof ObjectNode o) {
            List<String> keys = new ArrayList<>();
            o.fieldNames().forEachRemaining(keys::add);
            int op = random.nextInt(10);
            if (keys.isEmpty() || op == 0) {
                o.set(randomKey(random, keys), randomValue(random, null));
            } else if (op == 1) {
                o.remove(keys.get(random.nextInt(keys.size())));
            } else {
                String k = keys.get(random.nextInt(keys.size()));
                o.set(k, randomValue(random, o.get(k)));
            }
        } else if (parent instanceof ArrayNode a) {
            int op = random.nextInt(10);
            if (a.isEmpty() || op == 0) {
                a.insert(a.isEmpty() ? 0 : random.nextInt(a.size() + 1), randomValue(random, a.isEmpty() ? null : a.get(0)));
            } else if (op == 1) {
                a.remove(random.nextInt(a.size()));
            } else if (op == 2) {
                a.removeAll();
            } else if (op == 3 && a.size() < 100_000) {
                // Repeat an element: lists much longer than expected.
                JsonNode e = a.get(random.nextInt(a.size()));
                int times = random.nextBoolean() ? 1 : 1 + random.nextInt(2000);
                // At most about 1 MB of copies: a huge element repeated would only make a slow, huge input.
                times = (int) Math.max(1, Math.min(times, (1L << 20) / Math.max(1, approximateSize(e))));
                for (int i = 0; i < times; i++) a.add(e.deepCopy());
            } else {
                int i = random.nextInt(a.size());
                a.set(i, randomValue(random, a.get(i)));
            }
        }
        return root;
    }

    /** The node's serialised size, roughly (strings and number of nodes), without serialising it. */
    private static long approximateSize(JsonNode n) {
        if (n.isTextual()) return n.asText().length() + 2L;
        if (!n.isContainerNode()) return 8;
        long size = 2;
        for (JsonNode c : n) {
            size += approximateSize(c) + 4;
            if (size > (1L << 20)) break;
        }
        return size;
    }

    private static String randomKey(Random random, List<String> existing) {
        return switch (random.nextInt(5)) {
            case 0 -> "unknown_" + random.nextInt(100);
            case 1 -> existing.isEmpty() ? "" : existing.get(random.nextInt(existing.size())) + "_x";
            case 2 -> "";
            case 3 -> "__metadata__";
            default -> "k\u0000\uD800" + random.nextInt(10);
        };
    }

    /** A replacement value: a boundary number, another type, a deep nest, a huge string or a mutated copy. */
    static JsonNode randomValue(Random random, JsonNode old) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        switch (random.nextInt(14)) {
            case 0, 1, 2: {
                String t = INTERESTING_TEXT[random.nextInt(INTERESTING_TEXT.length)];
                try {
                    if (t.startsWith("0x") || t.equals("007") || t.equals("NaN") || t.contains("Infinity")) return f.textNode(t);
                    if (t.contains(".") || t.contains("e") || t.contains("E")) return f.numberNode(new BigDecimal(t));
                    return f.numberNode(new BigInteger(t));
                } catch (NumberFormatException e) {
                    return f.textNode(t);
                }
            }
            case 3: return f.numberNode(random.nextInt(2000) - 1000);
            case 4: return f.textNode(old != null && old.isTextual() ? mutateString(old.asText(), random) : "x");
            case 5: return f.booleanNode(random.nextBoolean());
            case 6: return f.nullNode();
            case 7: return f.arrayNode();
            case 8: return f.objectNode();
            case 9: {
                // Deep nesting, below, at and above common parser limits (Jackson's default is 1000): a marker
                // string that json() expands after serialising (a deep tree would overflow the writer's stack).
                int depth = new int[]{10, 999, 1001, 5000, 100_000}[random.nextInt(5)];
                return f.textNode(DEEP_MARKER + depth + (random.nextBoolean() ? "[" : "{"));
            }
            case 10: return f.textNode("x".repeat(new int[]{1000, 100_000, 1_000_000}[random.nextInt(3)]));
            case 11: {
                if (old != null && old.isArray()) {
                    ArrayNode a = old.deepCopy();
                    a.add(f.numberNode(new BigInteger(INTERESTING_TEXT[7 + random.nextInt(8)])));
                    return a;
                }
                return f.arrayNode().add(f.numberNode(random.nextInt(10))).add(f.numberNode(Long.MAX_VALUE));
            }
            case 12: {
                if (old != null && old.isContainerNode()) return mutateTree(old.deepCopy(), random);
                return f.numberNode(random.nextLong());
            }
            default: return f.numberNode(random.nextDouble() * Math.pow(10, random.nextInt(40) - 20));
        }
    }

    private static final String DEEP_MARKER = "\u0001deep:";

    private static final java.util.regex.Pattern DEEP = java.util.regex.Pattern.compile("\"\\\\u0001deep:(\\d{1,6})([\\[{])\"");

    private static byte[] expandDeepMarkers(byte[] json) {
        String s = new String(json, StandardCharsets.UTF_8);
        java.util.regex.Matcher m = DEEP.matcher(s);
        if (!m.find()) return json;
        m.reset();
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            int depth = Integer.parseInt(m.group(1));
            boolean array = m.group(2).equals("[");
            m.appendReplacement(out, "");
            out.append((array ? "[" : "{\"a\":").repeat(depth)).append('1').append((array ? "]" : "}").repeat(depth));
        }
        m.appendTail(out);
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static String mutateString(String s, Random random) {
        return switch (random.nextInt(6)) {
            case 0 -> "";
            case 1 -> s + "\u0000";
            case 2 -> s.isEmpty() ? "\uD800" : s.substring(0, random.nextInt(s.length())) + "\uD800";
            case 3 -> s.toUpperCase();
            case 4 -> s + s;
            default -> s + "\u00e9\u200b\uFFFF";
        };
    }

    private static void collect(JsonNode n, List<JsonNode> out, int depth) {
        if (!n.isContainerNode() || depth > 60 || out.size() > 5000) return;
        out.add(n);
        if (n instanceof ObjectNode o) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) collect(it.next().getValue(), out, depth + 1);
        } else {
            for (JsonNode c : n) collect(c, out, depth + 1);
        }
    }

    /** Text-level: repeats the first {@code "key":} of the document after the opening brace. */
    private static byte[] duplicateKey(byte[] json, Random random) {
        String s = new String(json, StandardCharsets.UTF_8);
        int q = s.indexOf('"');
        int colon = q < 0 ? -1 : s.indexOf("\":", q + 1);
        if (q != 1 || colon < 0) return json;
        String key = s.substring(q, colon + 2);
        return ("{" + key + (random.nextBoolean() ? "0," : "\"dup\",") + s.substring(1)).getBytes(StandardCharsets.UTF_8);
    }

    /** Mutations favour the first 64 bytes half of the time: that is where the headers are. */
    private static boolean headBias(Random random) {
        return random.nextBoolean();
    }

    private static int pos(byte[] b, Random random, boolean head) {
        int bound = head ? Math.min(b.length, 64) : b.length;
        return bound == 0 ? 0 : random.nextInt(bound);
    }

    static byte[] havocOnce(byte[] b, List<byte[]> all, Random random, boolean head) {
        if (b.length == 0) return new byte[]{(byte) random.nextInt(256)};
        switch (random.nextInt(12)) {
            case 0: { // flip a bit
                byte[] c = b.clone();
                int p = pos(c, random, head);
                c[p] ^= (byte) (1 << random.nextInt(8));
                return c;
            }
            case 1: { // random byte
                byte[] c = b.clone();
                c[pos(c, random, head)] = (byte) random.nextInt(256);
                return c;
            }
            case 2: case 3: { // interesting 1/2/4/8-byte value, either byte order
                byte[] c = b.clone();
                int width = new int[]{1, 2, 4, 8}[random.nextInt(4)];
                int p = pos(c, random, head);
                if (p + width > c.length) return c;
                Field f = random.nextBoolean() ? Field.le(p, width) : Field.be(p, width);
                f.write(c, INTERESTING[random.nextInt(INTERESTING.length)]);
                return c;
            }
            case 4: { // delete a range
                int p = pos(b, random, head);
                int n = Math.min(b.length - p, 1 + random.nextInt(random.nextBoolean() ? 4 : 256));
                byte[] c = new byte[b.length - n];
                System.arraycopy(b, 0, c, 0, p);
                System.arraycopy(b, p + n, c, p, b.length - p - n);
                return c;
            }
            case 5: { // insert random or repeated bytes
                int p = pos(b, random, head);
                int n = 1 + random.nextInt(random.nextBoolean() ? 4 : 512);
                byte[] ins = new byte[n];
                if (random.nextBoolean()) random.nextBytes(ins);
                else java.util.Arrays.fill(ins, (byte) (random.nextBoolean() ? 0 : 0xFF));
                return insert(b, p, ins);
            }
            case 6: { // truncate
                return java.util.Arrays.copyOf(b, random.nextInt(b.length));
            }
            case 7: { // splice: this seed's prefix, another's suffix
                byte[] other = all.get(random.nextInt(all.size()));
                int p = random.nextInt(b.length);
                int q = other.length == 0 ? 0 : random.nextInt(other.length);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(b, 0, p);
                out.write(other, q, other.length - q);
                return out.toByteArray();
            }
            case 8: { // copy a chunk over another place
                byte[] c = b.clone();
                int from = random.nextInt(c.length), to = random.nextInt(c.length);
                int n = Math.min(1 + random.nextInt(64), Math.min(c.length - from, c.length - to));
                System.arraycopy(b, from, c, to, n);
                return c;
            }
            case 9: { // duplicate a chunk in place (repeated markers/chunks)
                int from = random.nextInt(b.length);
                int n = Math.min(b.length - from, 1 + random.nextInt(256));
                return insert(b, from, java.util.Arrays.copyOfRange(b, from, from + n));
            }
            case 10: { // add or subtract a small number from a byte
                byte[] c = b.clone();
                int p = pos(c, random, head);
                c[p] += (byte) (random.nextInt(35) - 17);
                return c;
            }
            default: { // garbage appended
                byte[] tail = new byte[1 + random.nextInt(64)];
                random.nextBytes(tail);
                return insert(b, b.length, tail);
            }
        }
    }

    private static byte[] insert(byte[] b, int at, byte[] ins) {
        byte[] c = new byte[b.length + ins.length];
        System.arraycopy(b, 0, c, 0, at);
        System.arraycopy(ins, 0, c, at, ins.length);
        System.arraycopy(b, at, c, at + ins.length, b.length - at);
        return c;
    }
}
