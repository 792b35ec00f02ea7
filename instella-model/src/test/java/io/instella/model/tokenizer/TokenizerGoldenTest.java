package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.instella.core.testing.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The tokenizer against the golden set produced with HF tokenizers (shared/golden). */
class TokenizerGoldenTest {
    private static final JsonMapper JSON = new JsonMapper();
    private static final int IMAGE_TOKEN_INDEX = -200;

    private static JsonNode read(Path file) throws IOException {
        return JSON.readTree(file.toFile());
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private static String[] strings(JsonNode array) {
        String[] out = new String[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asText();
        }
        return out;
    }

    @TestFactory
    Stream<DynamicTest> tokenizerCases() throws IOException {
        Tokenizer tokenizer = OlmoTokenizer.get();
        JsonNode cases = read(Golden.dir().resolve("tokenizer_cases.json")).get("cases");
        assertThat(cases.size()).isGreaterThan(0);
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            tests.add(DynamicTest.dynamicTest("case " + JSON.writeValueAsString(text), () -> {
                int[] ids = tokenizer.encode(text);
                assertThat(ids).as("ids").containsExactly(ints(c.get("ids")));
                String[] tokens = new String[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    tokens[i] = tokenizer.tokenString(ids[i]);
                }
                assertThat(tokens).as("tokens").containsExactly(strings(c.get("tokens")));
                assertThat(tokenizer.decode(ids)).as("decoded").isEqualTo(c.get("decoded").asText());
                assertThat(tokenizer.decode(ids, true)).as("decoded, skipping special tokens")
                        .isEqualTo(c.get("decoded_skip_special").asText());
            }));
        }
        return tests.stream();
    }

    @Test
    void headerIdsAndSize() throws IOException {
        Tokenizer tokenizer = OlmoTokenizer.get();
        JsonNode golden = read(Golden.dir().resolve("tokenizer_cases.json"));
        assertThat(tokenizer.vocabSize()).isEqualTo(golden.get("len_tokenizer").asInt()).isEqualTo(50280);
        assertThat(tokenizer.tokenId("|||IP_ADDRESS|||")).hasValue(golden.get("ip_address_token_id").asInt());
        assertThat(tokenizer.tokenId("|||IP_ADDRESS|||")).hasValue(golden.get("eos_token_id").asInt());
        assertThat(tokenizer.tokenId("<|padding|>")).hasValue(golden.get("pad_token_id").asInt());
        assertThat(tokenizer.tokenId("<|endoftext|>")).hasValue(0);
        assertThat(tokenizer.tokenId("Ġworld")).hasValue(1533);
        assertThat(tokenizer.tokenId("<image>")).isEmpty();
        assertThat(tokenizer.isSpecial(0)).isTrue();
        assertThat(tokenizer.isSpecial(1)).isTrue();
        assertThat(tokenizer.isSpecial(50279)).as("|||IP_ADDRESS||| is not special in the file").isFalse();
        assertThat(tokenizer.isSpecial(50276)).isFalse();
        assertThat(tokenizer.isSpecial(1533)).isFalse();
    }

    /** Every id maps to a string that maps back to it (the 28 added tokens included). */
    @Test
    void tokenStringAndTokenIdAreInverse() {
        Tokenizer tokenizer = OlmoTokenizer.get();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            assertThat(tokenizer.tokenId(tokenizer.tokenString(id))).as("id %d", id).hasValue(id);
        }
        assertThat(tokenizer.tokenString(50254)).isEqualTo(" ".repeat(24));
        assertThat(tokenizer.tokenString(50276)).isEqualTo("  ");
    }

    private static List<Path> caseFiles() throws IOException {
        try (Stream<Path> dirs = Files.list(Golden.dir().resolve("cases"))) {
            List<Path> files = dirs.map(d -> d.resolve("case.json")).filter(Files::isRegularFile).sorted().toList();
            assertThat(files).isNotEmpty();
            return files;
        }
    }

    /** {@code tokenizer_image_token}: chunks split at "<image>", encoded separately, joined with -200. */
    @TestFactory
    Stream<DynamicTest> promptChunksOfEveryCase() throws IOException {
        Tokenizer tokenizer = OlmoTokenizer.get();
        List<DynamicTest> tests = new ArrayList<>();
        for (Path file : caseFiles()) {
            tests.add(DynamicTest.dynamicTest(file.getParent().getFileName().toString(), () -> {
                JsonNode c = read(file);
                String[] chunks = strings(c.get("prompt_chunks_split_at_image"));
                JsonNode expectedChunks = c.get("prompt_chunk_token_ids");
                assertThat(String.join("<image>", chunks)).isEqualTo(c.get("prompt").asText());
                assertThat(chunks).hasSameSizeAs(strings(expectedChunks));
                List<Integer> joined = new ArrayList<>();
                for (int i = 0; i < chunks.length; i++) {
                    int[] ids = tokenizer.encode(chunks[i]);
                    assertThat(ids).as("chunk %d", i).containsExactly(ints(expectedChunks.get(i)));
                    if (i > 0) {
                        joined.add(IMAGE_TOKEN_INDEX);
                    }
                    for (int id : ids) {
                        joined.add(id);
                    }
                }
                assertThat(joined).containsExactly(
                        java.util.Arrays.stream(ints(c.get("input_ids"))).boxed().toArray(Integer[]::new));
            }));
        }
        return tests.stream();
    }

    /** The golden greedy continuations decode to the golden text (including a lone byte decoded as U+FFFD). */
    @TestFactory
    Stream<DynamicTest> greedyTextOfEveryCase() throws IOException {
        Tokenizer tokenizer = OlmoTokenizer.get();
        List<DynamicTest> tests = new ArrayList<>();
        for (Path file : caseFiles()) {
            tests.add(DynamicTest.dynamicTest(file.getParent().getFileName().toString(), () -> {
                JsonNode c = read(file);
                int[] ids = ints(c.get("greedy_ids"));
                String expected = c.get("greedy_text").asText();
                assertThat(tokenizer.decode(ids, true)).isEqualTo(expected);
                IncrementalDecoder stream = tokenizer.newIncrementalDecoder(true);
                StringBuilder streamed = new StringBuilder();
                for (int id : ids) {
                    streamed.append(stream.push(id));
                }
                streamed.append(stream.finish());
                assertThat(streamed.toString()).isEqualTo(expected);
            }));
        }
        return tests.stream();
    }
}
