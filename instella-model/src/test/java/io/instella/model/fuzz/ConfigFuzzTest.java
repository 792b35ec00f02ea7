package io.instella.model.fuzz;

import io.instella.core.fuzz.Fuzzer;
import io.instella.core.fuzz.Mutators;
import io.instella.model.config.ConfigException;
import io.instella.model.config.InstellaConfig;
import io.instella.model.config.TextConfig;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fuzzes {@link InstellaConfig#load} with mutated {@code config.json} files (JSON tree mutations: wrong types,
 * boundary numbers, deep nesting, huge strings, missing and unknown keys; byte havoc). A config either loads with
 * values a model can have, or fails with a {@link ConfigException} with a clean message.
 */
class ConfigFuzzTest {
    static final String TARGET = "config";

    /** Findings on the current main code (issue 14 item 3), tolerated until their fixes merge; remove when fixed. */
    static final List<Pattern> OPEN_FINDINGS = Stream.<String>of().map(Pattern::compile).toList();

    /** The largest model the oracle believes in: 2^40 parameters (a 4 TB checkpoint in BF16). */
    static final double MAX_PARAMETERS = Math.pow(2, 40);

    static Fuzzer fuzzer() {
        List<byte[]> seeds = new ArrayList<>(seeds());
        seeds.addAll(Fuzzer.read(Fuzzer.corpus(ConfigFuzzTest.class, TARGET)));
        return new Fuzzer(TARGET, seeds, Mutators.json(), ConfigFuzzTest::loadAndCheck, ConfigFuzzTest::judge);
    }

    static String judge(Throwable t) {
        if (!(t instanceof ConfigException)) return "not a ConfigException";
        return Fuzzer.messageProblem(t);
    }

    static void loadAndCheck(byte[] input) throws IOException {
        Path dir = Files.createTempDirectory("fuzz-config-");
        try {
            Path file = dir.resolve("config.json");
            Files.write(file, input);
            InstellaConfig c = InstellaConfig.load(file);
            TextConfig t = c.text();
            // Parameter count of the language model; over 2^40 no machine loads it.
            double params = (double) t.vocabSize() * t.hiddenSize()
                    + (double) t.numLayers() * (4.0 * t.hiddenSize() * t.hiddenSize() + 3.0 * t.hiddenSize() * t.intermediateSize());
            if (params > MAX_PARAMETERS) {
                throw new Fuzzer.WrongAcceptance("dimensions of a model with over 2^40 parameters accepted", t.toString());
            }
            for (int eos : c.eosTokenIds()) {
                if (eos < 0 || eos >= t.vocabSize()) {
                    throw new Fuzzer.WrongAcceptance("eos_token_id outside the vocabulary accepted", String.valueOf(eos));
                }
            }
            if (c.padTokenId() != null && (c.padTokenId() < 0 || c.padTokenId() >= t.vocabSize())) {
                throw new Fuzzer.WrongAcceptance("pad_token_id outside the vocabulary accepted", String.valueOf(c.padTokenId()));
            }
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static final String TEXT = """
              "attention_bias": false,
              "clip_qkv": null,
              "eos_token_id": 50279,
              "hidden_act": "silu",
              "hidden_size": 128,
              "intermediate_size": 512,
              "max_position_embeddings": 2048,
              "num_attention_heads": 4,
              "num_hidden_layers": 2,
              "num_key_value_heads": 4,
              "pad_token_id": 1,
              "rope_scaling": null,
              "rope_theta": 10000.0,
              "tie_word_embeddings": true,
              "tokenizer_model_max_length": 32768,
              "vocab_size": 50282
            """;

    /** Valid configs: text-only OLMo, Instella-VL with an embedded vision config, and with the built-in CLIP table. */
    static List<byte[]> seeds() {
        String olmo = "{\n  \"model_type\": \"olmo\",\n" + TEXT + "}\n";
        String embedded = "{\n  \"model_type\": \"instellavl\",\n" + TEXT + """
                  , "image_aspect_ratio": "anyres",
                  "image_grid_pinpoints": [[32, 32], [32, 64], [64, 32]],
                  "mm_hidden_size": 64,
                  "mm_patch_merge_type": "spatial_unpad",
                  "mm_projector_type": "mlp2x_gelu",
                  "mm_vision_select_feature": "patch",
                  "mm_vision_select_layer": -2,
                  "mm_vision_tower": "tiny/clip",
                  "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 3}
                }
                """;
        String builtin = "{\n  \"model_type\": \"instellavl\",\n" + TEXT + """
                  , "image_aspect_ratio": "square",
                  "mm_hidden_size": 1024,
                  "mm_patch_merge_type": "flat",
                  "mm_projector_type": "linear",
                  "mm_vision_tower": "openai/clip-vit-large-patch14-336",
                  "eos_token_id": [50279, 50280]
                }
                """;
        return List.of(bytes(olmo), bytes(embedded), bytes(builtin.replace("\"eos_token_id\": 50279,", "")));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void seedsLoad() throws IOException {
        for (byte[] seed : seeds()) loadAndCheck(seed);
    }

    @TestFactory
    Stream<DynamicTest> committedCorpus() {
        Fuzzer fuzzer = fuzzer();
        return Fuzzer.corpus(ConfigFuzzTest.class, TARGET).stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(),
                () -> assertThat(fuzzer.check(read(p), 20_000)).as(p.toString()).isNull()));
    }

    static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void fuzz() {
        assumeTrue(Fuzzer.selected(TARGET));
        Fuzzer.Report report = fuzzer().run();
        assertThat(report.tried()).isPositive();
        assertThat(report.unexpected(OPEN_FINDINGS)).as(report.summary()).isEmpty();
    }
}
