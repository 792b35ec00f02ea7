package io.instella.examples;

import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.instella.api.LoadOptions;
import io.instella.langchain4j.InstellaChatModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

/**
 * Asks Instella-VL about an image through LangChain4j's {@code ChatModel}, in this JVM (no server).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp ... \
 *     io.instella.examples.DescribeWithLangChain4j [MODEL [IMAGE [QUESTION [MAX_TOKENS]]]]
 * </pre>
 */
public final class DescribeWithLangChain4j {
    public static void main(String[] args) throws IOException {
        String model = args.length > 0 ? args[0] : "amd/Instella-VL-1B";
        Path image = Path.of(args.length > 1 ? args[1] : "examples/shapes.png");
        String question = args.length > 2 ? args[2] : "Describe this image.";
        int maxTokens = args.length > 3 ? Integer.parseInt(args[3]) : 256;

        String mimeType = Files.probeContentType(image);
        String base64 = Base64.getEncoder().encodeToString(Files.readAllBytes(image));
        try (InstellaChatModel chat = InstellaChatModel.builder()
                .model(model)                                        // a local directory or a Hugging Face repo id
                .loadOptions(LoadOptions.defaults().withConsoleProgress())
                .temperature(0.0)                                    // greedy: the same answer every run
                .maxOutputTokens(maxTokens)
                .build()) {
            ChatResponse r = chat.chat(ChatRequest.builder()
                    .messages(UserMessage.from(
                            ImageContent.from(base64, mimeType != null ? mimeType : "image/png"),
                            TextContent.from(question)))
                    .build());
            System.out.println(r.aiMessage().text());
            System.out.println("(" + r.tokenUsage().inputTokenCount() + " prompt tokens, " + r.tokenUsage().outputTokenCount()
                    + " generated, finish reason " + r.finishReason() + ")");
        }
    }
}
