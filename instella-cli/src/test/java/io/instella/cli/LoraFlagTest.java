package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.testing.Golden;
import io.instella.model.lora.LoraAdapter;
import io.instella.model.lora.LoraConfig;
import io.instella.model.lora.LoraPair;
import io.instella.train.cli.MergeLoraCommand;
import io.instella.train.lora.LoraTargets;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --lora DIR} on generate, run, chat and serve: the adapter is merged at load time, so generate answers exactly
 * like the checkpoint merge-lora writes; a bad adapter directory is a one-line error.
 */
class LoraFlagTest {
    @TempDir
    static Path tmp;
    static Path adapter;
    static Path merged;

    @BeforeAll
    static void adapterAndMergedModel() throws Exception {
        Path model = Golden.resolve("model");
        LoraConfig config = LoraConfig.of(4, 8, 0, null, null, model.toString());
        try (Checkpoint base = Checkpoint.open(model)) {
            LoraAdapter fresh = LoraTargets.initialize(config, base, 5);
            SplittableRandom random = new SplittableRandom(11);
            LoraAdapter.Builder b = LoraAdapter.builder(config);
            for (LoraPair p : fresh.pairs().values()) {
                float[] bValues = new float[p.b().length];
                for (int i = 0; i < bValues.length; i++) bValues[i] = (float) ((random.nextDouble() - 0.5) * 0.2);
                b.pair(p.module(), p.r(), p.in(), p.out(), p.a(), bValues);
            }
            adapter = tmp.resolve("adapter");
            b.build().write(adapter);
        }
        merged = tmp.resolve("merged");
        CommandLine mergeLora = new CommandLine(new MergeLoraCommand());
        mergeLora.setOut(new java.io.PrintWriter(new java.io.StringWriter()));
        int code = mergeLora.execute("--model", model.toString(), "--lora", adapter.toString(), "--out", merged.toString());
        assertThat(code).isZero();
    }

    @Test
    void generateWithLoraAnswersLikeTheMergedModel() throws Exception {
        JsonNode withLora = generate("--model", Golden.resolve("model").toString(), "--lora", adapter.toString());
        JsonNode mergedModel = generate("--model", merged.toString());
        JsonNode base = generate("--model", Golden.resolve("model").toString());
        assertThat(withLora.get("completion_ids")).isEqualTo(mergedModel.get("completion_ids"));
        assertThat(withLora.get("logprobs")).isEqualTo(mergedModel.get("logprobs"));
        assertThat(withLora.get("logprobs")).isNotEqualTo(base.get("logprobs"));
    }

    @Test
    void theLibraryTakesLoraThroughLoadOptions() {
        var greedy = io.instella.api.GenerateOptions.greedy().withMaxNewTokens(12).withIgnoreEos(true);
        var question = io.instella.api.Conversation.create().user("Tell me about circles.");
        int[][] answers = new int[3][];
        String[] models = {Golden.resolve("model").toString(), merged.toString(), Golden.resolve("model").toString()};
        io.instella.api.LoadOptions[] options = {io.instella.api.LoadOptions.defaults().withLora(adapter),
                io.instella.api.LoadOptions.defaults(), io.instella.api.LoadOptions.defaults()};
        for (int i = 0; i < 3; i++) {
            try (var m = io.instella.api.InstellaModel.load(models[i], options[i])) {
                answers[i] = m.generate(question.copy(), greedy).tokenIds();
            }
        }
        assertThat(answers[0]).containsExactly(answers[1]);
        assertThat(answers[0]).isNotEqualTo(answers[2]);
    }

    @Test
    void runTakesLoraAndABadAdapterIsAClearError() throws Exception {
        CliRunner r = CliRunner.run("run", "--model", Golden.resolve("model").toString(), "--lora", adapter.toString(),
                "--max-new-tokens", "2", "-q", "Say hi");
        assertThat(r.exitCode()).as(r.err()).isZero();

        for (String command : new String[]{"generate", "run", "serve"}) {
            String[] args = switch (command) {
                case "generate" -> new String[]{"generate", "--model", Golden.resolve("model").toString(), "--prompt", "x",
                        "--lora", tmp.resolve("missing").toString()};
                case "run" -> new String[]{"run", "--model", Golden.resolve("model").toString(), "-q", "--lora",
                        tmp.resolve("missing").toString(), "x"};
                default -> new String[]{"serve", "--model", Golden.resolve("model").toString(), "--port", "0", "--lora",
                        tmp.resolve("missing").toString()};
            };
            r = CliRunner.run(args);
            assertThat(r.exitCode()).as(command).isEqualTo(1);
            assertThat(r.err()).as(command).contains("no such LoRA adapter directory").doesNotContain("\tat ").doesNotContain("Exception");
        }

        Path broken = Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(broken.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"r\": 4, \"target_modules\": [\"q_proj\"]}");
        r = CliRunner.run("generate", "--model", Golden.resolve("model").toString(), "--prompt", "x", "--lora", broken.toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("no adapter_model.safetensors");
    }

    @Test
    void helpListsLoraOnEveryLoadingCommand() {
        for (String command : new String[]{"run", "chat", "generate", "serve"}) {
            CliRunner r = CliRunner.run(command, "--help");
            assertThat(r.out()).as(command).contains("--lora=DIR");
        }
    }

    private static JsonNode generate(String... modelOptions) throws Exception {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("generate"));
        args.addAll(java.util.List.of(modelOptions));
        args.addAll(java.util.List.of("--prompt", "Hello there", "--max-new-tokens", "4", "--ignore-eos", "--logprobs", "2", "--json"));
        CliRunner r = CliRunner.run(args.toArray(String[]::new));
        assertThat(r.exitCode()).as(r.err()).isZero();
        return new ObjectMapper().readTree(r.out());
    }
}
