package io.instella.core.fuzz;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.instella.core.safetensors.SafeTensorsException;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.DType;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fuzzes {@link SafeTensorsFile#open} with mutated files: the header length, the header JSON (wrong types,
 * boundary numbers past 2^63 and 2^64, unknown keys, trailing bytes), quantization metadata and the data.
 * A file either opens, and then every entry must be exactly what the raw header says (offsets that fit, byte
 * counts that match the shape, nothing after the JSON but spaces), or fails with a {@link SafeTensorsException}
 * with a clean message. See {@link Fuzzer} for the settings of a long run.
 */
class SafeTensorsFuzzTest {
    static final String TARGET = "safetensors";

    /**
     * Findings on the current main code (issue 14 item 3), tolerated until their fixes merge so that the CI fuzz
     * step stays green; remove a line when its fix is in. A new kind of failure still fails the build.
     */
    static final List<Pattern> OPEN_FINDINGS = Stream.<String>of().map(Pattern::compile).toList();

    private static final JsonMapper STRICT = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS)
            .build();
    static {
        STRICT.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxStringLength(200_000_000).build());
    }

    private static final Set<String> ENTRY_KEYS = Set.of("dtype", "shape", "data_offsets");
    private static final Pattern QUANT = Pattern.compile("^(Q8_0|Q4_0|Q4_0_R8|Q8_0_R8)\\[(\\d+),(\\d+)]$");

    static Fuzzer fuzzer() {
        List<byte[]> seeds = new ArrayList<>(seeds());
        seeds.addAll(Fuzzer.read(Fuzzer.corpus(SafeTensorsFuzzTest.class, TARGET)));
        Mutators.Mutator header = Mutators.json();
        Mutators.Mutator bytes = Mutators.withFields(f -> List.of(Mutators.Field.le(0, 8), Mutators.Field.le(0, 4), Mutators.Field.le(4, 4)));
        Mutators.Mutator mutator = (seed, all, random) -> {
            int mode = random.nextInt(3);
            if (mode == 0) return bytes.mutate(seed, all, random);
            // Structure-aware: mutate the header JSON, keep the data, write a consistent length (usually).
            long n = ByteBuffer.wrap(seed).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (n < 2 || n > seed.length - 8) return bytes.mutate(seed, all, random);
            byte[] json = java.util.Arrays.copyOfRange(seed, 8, (int) (8 + n));
            byte[] data = java.util.Arrays.copyOfRange(seed, (int) (8 + n), seed.length);
            byte[] newJson = header.mutate(json, List.of(json), random);
            if (random.nextInt(6) == 0) newJson = appendToHeader(newJson, random);
            return file(newJson, data);
        };
        return new Fuzzer(TARGET, seeds, mutator, SafeTensorsFuzzTest::openAndCheck, SafeTensorsFuzzTest::judge);
    }

    static String judge(Throwable t) {
        if (!(t instanceof SafeTensorsException)) return "not a SafeTensorsException";
        return Fuzzer.messageProblem(t);
    }

    /** Opens the file; when it opens, checks every entry against an independent reading of the raw header. */
    static void openAndCheck(byte[] input) throws Exception {
        Path file = Files.createTempFile("fuzz-", ".safetensors");
        try {
            Files.write(file, input);
            try (SafeTensorsFile st = SafeTensorsFile.open(file)) {
                try {
                    checkAccepted(input, st);
                } catch (Fuzzer.WrongAcceptance w) {
                    throw w;
                } catch (Exception | StackOverflowError e) {
                    throw new Fuzzer.WrongAcceptance("a header that a strict JSON reading refuses was accepted",
                            e.getClass().getSimpleName() + ": " + e.getMessage());
                }
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void checkAccepted(byte[] input, SafeTensorsFile st) throws Exception {
        long n = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String text = new String(input, 8, (int) n, StandardCharsets.UTF_8);
        int end = endOfJsonValue(text);
        if (end >= 0 && !text.substring(end).chars().allMatch(c -> c == ' ')) {
            throw new Fuzzer.WrongAcceptance("bytes after the header's JSON object accepted",
                    "'" + Fuzzer.firstLine(text.substring(end), 40) + "'");
        }
        JsonNode header = STRICT.readTree(text.substring(0, end < 0 ? text.length() : end));
        long dataSize = input.length - 8 - n;
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (f.getKey().equals("__metadata__")) continue;
            SafeTensorsFile.Entry e = st.entries().get(f.getKey());
            if (e == null) throw new Fuzzer.WrongAcceptance("an entry of the header is missing", f.getKey());
            JsonNode v = f.getValue();
            for (Iterator<String> k = v.fieldNames(); k.hasNext(); ) {
                String key = k.next();
                if (!ENTRY_KEYS.contains(key)) throw new Fuzzer.WrongAcceptance("unknown key in an entry accepted", key);
            }
            BigInteger begin = v.get("data_offsets").get(0).bigIntegerValue();
            BigInteger stop = v.get("data_offsets").get(1).bigIntegerValue();
            if (!begin.equals(BigInteger.valueOf(e.begin())) || !stop.equals(BigInteger.valueOf(e.end()))) {
                throw new Fuzzer.WrongAcceptance("data_offsets read as other numbers",
                        begin + ", " + stop + " read as " + e.begin() + ", " + e.end());
            }
            if (e.begin() < 0 || e.end() < e.begin() || e.end() > dataSize) {
                throw new Fuzzer.WrongAcceptance("data_offsets outside the data section accepted", e.begin() + ", " + e.end());
            }
            BigInteger bytes;
            if (e.dtype().isQuantized()) {
                String q = st.metadata().get(SafeTensorsFile.QUANT_PREFIX + f.getKey());
                Matcher m = q == null ? null : QUANT.matcher(q);
                if (m == null || !m.matches()) throw new Fuzzer.WrongAcceptance("quantized entry without valid metadata", q);
                BigInteger rows = new BigInteger(m.group(2)), cols = new BigInteger(m.group(3));
                BigInteger blocks = cols.divide(BigInteger.valueOf(e.dtype().blockSize()));
                bytes = rows.multiply(blocks).multiply(BigInteger.valueOf(e.dtype().byteSize()));
                if (bytes.compareTo(BigInteger.valueOf(e.end() - e.begin())) != 0) {
                    throw new Fuzzer.WrongAcceptance("quantized tensor backed by the wrong byte count",
                            q + " needs " + bytes + " bytes, backed by " + (e.end() - e.begin()));
                }
            } else {
                BigInteger numel = BigInteger.ONE;
                for (JsonNode d : v.get("shape")) numel = numel.multiply(d.bigIntegerValue());
                bytes = numel.multiply(BigInteger.valueOf(e.dtype().byteSize()));
                if (bytes.compareTo(BigInteger.valueOf(e.end() - e.begin())) != 0) {
                    throw new Fuzzer.WrongAcceptance("tensor backed by the wrong byte count",
                            "shape needs " + bytes + " bytes, backed by " + (e.end() - e.begin()));
                }
            }
            st.tensor(f.getKey());
        }
        if (st.entries().size() != countEntries(header)) throw new Fuzzer.WrongAcceptance("entry count differs from the header", null);
    }

    private static int countEntries(JsonNode header) {
        int c = 0;
        for (Iterator<String> it = header.fieldNames(); it.hasNext(); ) if (!it.next().equals("__metadata__")) c++;
        return c;
    }

    /** The index just past the first complete JSON value in {@code text}, or -1 when it has none. */
    private static int endOfJsonValue(String text) {
        try (JsonParser p = STRICT.getFactory().createParser(text)) {
            if (p.nextToken() == null) return -1;
            p.skipChildren();
            return (int) p.currentLocation().getCharOffset();
        } catch (Exception e) {
            return -1;
        }
    }

    private static byte[] appendToHeader(byte[] json, Random random) {
        String[] tails = {"   ", "\n", "\u0000", "x", "{}", " {\"a\":1}", "\t"};
        byte[] tail = tails[random.nextInt(tails.length)].getBytes(StandardCharsets.UTF_8);
        byte[] out = java.util.Arrays.copyOf(json, json.length + tail.length);
        System.arraycopy(tail, 0, out, json.length, tail.length);
        return out;
    }

    static byte[] file(byte[] headerJson, byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(headerJson.length).array());
        out.writeBytes(headerJson);
        out.writeBytes(data);
        return out.toByteArray();
    }

    static byte[] file(String headerJson, int dataBytes) {
        // Padded with spaces to a multiple of 8, as the safetensors writers do.
        StringBuilder h = new StringBuilder(headerJson);
        while ((8 + h.length()) % 8 != 0) h.append(' ');
        byte[] data = new byte[dataBytes];
        new Random(dataBytes).nextBytes(data);
        return file(h.toString().getBytes(StandardCharsets.UTF_8), data);
    }

    /** Valid files: plain dtypes, an empty tensor, a scalar, metadata, Q8_0 and Q4_0 quantized entries. */
    static List<byte[]> seeds() {
        return List.of(
                file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                        + "\"empty\":{\"dtype\":\"I64\",\"shape\":[0,5],\"data_offsets\":[32,32]},"
                        + "\"scalar\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[32,36]}}", 36),
                file("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,12]},"
                        + "\"m\":{\"dtype\":\"BOOL\",\"shape\":[5],\"data_offsets\":[12,17]}}", 17),
                file("{\"__metadata__\":{\"quant.q\":\"Q8_0[2,32]\",\"quant.r\":\"Q4_0[1,64]\"},"
                        + "\"q\":{\"dtype\":\"U8\",\"shape\":[2,34],\"data_offsets\":[0,68]},"
                        + "\"r\":{\"dtype\":\"U8\",\"shape\":[1,36],\"data_offsets\":[68,104]},"
                        + "\"d\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[104,112]}}", 112),
                file("{}", 0));
    }

    @TestFactory
    Stream<DynamicTest> committedCorpus() {
        Fuzzer fuzzer = fuzzer();
        return Fuzzer.corpus(SafeTensorsFuzzTest.class, TARGET).stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(),
                () -> assertThat(fuzzer.check(Files.readAllBytes(p), 20_000)).as(p.toString()).isNull()));
    }

    @Test
    void seedsOpen() throws Exception {
        for (byte[] seed : seeds()) openAndCheck(seed);
        assertThat(DType.Q8_0.bytesFor(32)).isEqualTo(34);
    }

    @Test
    void fuzz() {
        assumeTrue(Fuzzer.selected(TARGET));
        Fuzzer.Report report = fuzzer().run();
        assertThat(report.tried()).isPositive();
        assertThat(report.unexpected(OPEN_FINDINGS)).as(report.summary()).isEmpty();
    }
}
