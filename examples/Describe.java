import io.instella.api.Conversation;
import io.instella.api.GenerateOptions;
import io.instella.api.Image;
import io.instella.api.InstellaModel;
import io.instella.api.LoadOptions;
import io.instella.api.Response;

import java.nio.file.Path;

/**
 * The library API in one file: load Instella-VL (downloading it on first use), ask about an image, ask a follow-up.
 *
 * <pre>
 * ./instella --version      # builds instella-cli/target/instella.jar once
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *      -cp instella-cli/target/instella.jar examples/Describe.java amd/Instella-VL-1B examples/shapes.png
 * </pre>
 */
public class Describe {
    public static void main(String[] args) {
        String modelId = args.length > 0 ? args[0] : "amd/Instella-VL-1B";
        Path imageFile = Path.of(args.length > 1 ? args[1] : "examples/shapes.png");

        try (InstellaModel model = InstellaModel.load(modelId, LoadOptions.defaults().withConsoleProgress())) {
            Conversation chat = Conversation.create()
                    .user("Describe this image.", Image.fromPath(imageFile));
            Response answer = model.generate(chat, GenerateOptions.defaults().withMaxNewTokens(256), System.out::print);
            System.out.println();

            // The follow-up reuses the first turn's work: the image is not encoded again.
            chat.assistant(answer.text()).user("Which shape is the largest?");
            Response followUp = model.generate(chat, GenerateOptions.defaults().withMaxNewTokens(128), System.out::print);
            System.out.println();

            Response.Stats s = followUp.stats();
            System.err.printf("follow-up: %d prompt tokens (%d reused), %.1f tokens/s, finished: %s%n",
                    s.promptTokens(), s.reusedPromptTokens(), s.generationTokensPerSecond(), followUp.finishReason());
        }
    }
}
