package io.instella.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.server.InstellaServer;
import io.instella.server.ServerOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With temperature 0 the server answers every golden case as {@code instella generate} does, while the
 * cases run together (continuous batching, chunked prefill). Token by token the answers must agree up to
 * the first step where the CLI's two best tokens are within the golden tolerance of each other (there a
 * float-summation difference may legitimately pick the other one); without such a near-tie, exactly.
 */
class ServeGoldenTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> CASES = List.of("text_only_ascii", "sq336_describe", "land640x480_shapes",
            "wide1000x300_unicode", "tall200x900_multiturn");
    static final double TIE = 2e-3; // the golden logits tolerance

    @TempDir
    Path tmp;

    @Test
    void serverGreedyAnswersEqualTheCli() throws Exception {
        List<JsonNode> cli = new ArrayList<>();
        List<ObjectNode> requests = new ArrayList<>();
        for (String name : CASES) {
            JsonNode c = JSON.readTree(Golden.resolve("cases/" + name + "/case.json").toFile());
            String image = c.get("image").isNull() ? null : c.get("image").asText();
            ArrayNode messages = JSON.createArrayNode();
            ArrayNode apiMessages = JSON.createArrayNode();
            boolean first = true;
            for (JsonNode turn : c.get("turns")) {
                messages.addObject().put("role", "user").put("content", turn.get(0).asText());
                ObjectNode u = apiMessages.addObject().put("role", "user");
                if (first && image != null) {
                    ArrayNode parts = u.putArray("content");
                    String url = "data:image/png;base64," + Base64.getEncoder().encodeToString(
                            Files.readAllBytes(Golden.resolve("images/" + image + ".png")));
                    parts.addObject().put("type", "image_url").putObject("image_url").put("url", url);
                    parts.addObject().put("type", "text").put("text", turn.get(0).asText());
                } else {
                    u.put("content", turn.get(0).asText());
                }
                first = false;
                if (!turn.get(1).isNull()) {
                    messages.addObject().put("role", "assistant").put("content", turn.get(1).asText());
                    apiMessages.addObject().put("role", "assistant").put("content", turn.get(1).asText());
                }
            }
            Path msgFile = tmp.resolve(name + ".json");
            JSON.writeValue(msgFile.toFile(), messages);
            List<String> args = new ArrayList<>(List.of("generate", "--model", Golden.resolve("model").toString(),
                    "--messages", msgFile.toString(), "--max-new-tokens", "16", "--ignore-eos", "--temperature", "0",
                    "--logprobs", "2", "--json"));
            if (image != null) args.addAll(List.of("--image", Golden.resolve("images/" + image + ".png").toString()));
            CliRunner r = CliRunner.run(args.toArray(String[]::new));
            assertThat(r.exitCode()).as(r.err()).isZero();
            cli.add(JSON.readTree(r.out()));
            ObjectNode req = JSON.createObjectNode();
            req.set("messages", apiMessages);
            req.put("max_tokens", 16).put("temperature", 0).put("ignore_eos", true).put("logprobs", true).put("top_logprobs", 2);
            requests.add(req);
        }

        try (InstellaVL model = InstellaVL.load(Golden.resolve("model"));
             InstellaServer server = InstellaServer.start(model, ServerOptions.builder().port(0).parallel(5)
                     .contextLength(4096).prefillChunk(300).build())) {
            HttpClient http = HttpClient.newHttpClient();
            List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
            for (ObjectNode req : requests) {
                answers.add(http.sendAsync(HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions"))
                        .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(req.toString())).build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < CASES.size(); i++) {
                HttpResponse<String> resp = answers.get(i).get();
                assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
                JsonNode got = JSON.readTree(resp.body());
                JsonNode expected = cli.get(i);
                assertThat(got.at("/usage/prompt_tokens").asInt()).as(CASES.get(i)).isEqualTo(expected.get("sequence_length").asInt());
                JsonNode gotTokens = got.at("/choices/0/logprobs/content");
                JsonNode cliTokens = expected.get("logprobs");
                assertThat(gotTokens.size()).isEqualTo(16);
                int comparable = 16;
                for (int t = 0; t < 16; t++) {
                    JsonNode top = cliTokens.get(t).get("top_logprobs");
                    if (top.get(0).get("logprob").asDouble() - top.get(1).get("logprob").asDouble() < TIE) {
                        comparable = t + 1;
                        break;
                    }
                }
                for (int t = 0; t < comparable; t++) {
                    assertThat(gotTokens.get(t).get("token").asText()).as("%s step %d", CASES.get(i), t)
                            .isEqualTo(cliTokens.get(t).get("token").asText());
                }
                if (comparable == 16) {
                    assertThat(got.at("/choices/0/message/content").asText()).as(CASES.get(i)).isEqualTo(expected.get("text").asText());
                }
            }
        }
    }
}
