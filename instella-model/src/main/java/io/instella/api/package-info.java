/**
 * The public Java API of instella: load Instella-VL from a directory or a Hugging Face repo id, build a
 * conversation with images, generate with options, stream the answer, close.
 *
 * <pre>{@code
 * import io.instella.api.*;
 *
 * try (InstellaModel model = InstellaModel.load("amd/Instella-VL-1B", LoadOptions.defaults().withConsoleProgress())) {
 *     Conversation chat = Conversation.create()
 *             .user("Describe this image.", Image.fromPath(Path.of("examples/shapes.png")));
 *     Response r = model.generate(chat, GenerateOptions.defaults().withMaxNewTokens(256), System.out::print);
 *     chat.assistant(r.text()).user("Which shape is largest?");
 *     model.generate(chat, GenerateOptions.defaults(), System.out::print);   // reuses the first turn's work
 * }
 * }</pre>
 *
 * <p>The types here are the whole supported surface: {@link io.instella.api.InstellaModel},
 * {@link io.instella.api.LoadOptions}, {@link io.instella.api.Conversation}, {@link io.instella.api.Image},
 * {@link io.instella.api.GenerateOptions}, {@link io.instella.api.GenerationListener},
 * {@link io.instella.api.Response}, {@link io.instella.api.FinishReason} and
 * {@link io.instella.api.InstellaApiException} (plus {@code io.instella.hub.DownloadListener} for custom
 * download progress). Packages under {@code io.instella.model} and {@code io.instella.core} are the engine's
 * internals: public for the CLI and the tests, but they change without notice.
 */
package io.instella.api;
