package io.instella.eval.run;

import io.instella.model.InstellaException;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatMessage;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.GenerationResult;
import io.instella.model.generate.Generator;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The engine behind {@link EvalModel}, doing what lmms-eval's {@code instellavl} adapter does (spec
 * instella-vl.md §10): without an {@code <image>} in the context, one {@code <image>} per image (space
 * separated) and a newline go in front; the {@code instella} template wraps it as one user turn; greedy
 * (or sampled, if the task asks) generation with the task's max_new_tokens, no stop strings (the adapter
 * drops {@code until}), the end-of-sequence id as terminator; the text is decoded with special tokens
 * skipped and stripped.
 *
 * <p>Not reproduced: the adapter's permanent switch to {@code image_aspect_ratio = "pad"} after the
 * first multi-image document (a reference bug, spec §12.7); every document here uses the model's own mode.
 */
public final class InstellaEvalModel implements EvalModel, AutoCloseable {
    private final InstellaVL model;
    private final Generator generator;
    private final ImageDecoder decoder = ImageDecoder.defaults();

    public InstellaEvalModel(InstellaVL model) {
        this.model = model;
        this.generator = new Generator(model);
    }

    public static InstellaEvalModel open(Path directory) {
        return new InstellaEvalModel(InstellaVL.load(directory));
    }

    @Override
    public String generate(String context, List<byte[]> encodedImages, GenerationSettings settings) {
        if (settings.numBeams() > 1) {
            throw new InstellaException("num_beams " + settings.numBeams() + " is not supported (greedy or sampling only)");
        }
        List<RgbImage> images = new ArrayList<>();
        for (int i = 0; i < encodedImages.size(); i++) images.add(decoder.decode(encodedImages.get(i), "image " + i));
        String text = context;
        if (!images.isEmpty() && !context.contains(ChatTemplate.IMAGE_PLACEHOLDER)) {
            text = String.join(" ", Collections.nCopies(images.size(), ChatTemplate.IMAGE_PLACEHOLDER)) + "\n" + context;
        }
        int placeholders = count(text);
        String prompt = ChatTemplate.render(List.of(new ChatMessage(ChatMessage.Role.USER, text, placeholders)), true);
        PreparedPrompt p = model.prepare(prompt, images);
        boolean sample = settings.doSample() && settings.temperature() > 0;
        GenerationOptions.Builder o = GenerationOptions.builder()
                .maxNewTokens(Math.min(settings.maxNewTokens(), model.contextLength() - p.sequenceLength()))
                .temperature(sample ? settings.temperature() : 0.0);
        if (sample && settings.topP() != null) o.topP(settings.topP());
        GenerationResult r = generator.generate(p, o.build(), null);
        return r.text().strip();
    }

    private static int count(String s) {
        int n = 0;
        for (int i = s.indexOf(ChatTemplate.IMAGE_PLACEHOLDER); i >= 0; i = s.indexOf(ChatTemplate.IMAGE_PLACEHOLDER, i + 1)) n++;
        return n;
    }

    @Override
    public void close() {
        model.close();
    }
}
