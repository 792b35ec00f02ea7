package io.instella.spark;

import io.instella.core.tensor.DType;
import io.instella.core.testing.Golden;
import io.instella.model.InstellaVL;
import io.instella.model.PreparedPrompt;
import io.instella.model.chat.ChatTemplate;
import io.instella.model.generate.GenerationOptions;
import io.instella.model.generate.Generator;
import io.instella.model.generate.TokenListener;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.RgbImage;
import io.instella.model.random.RandomCheckpoint;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The test model and images, made once per test JVM and shared by the test classes: a tiny random Instella-VL
 * checkpoint (the real structure and tokenizer, small widths), small PNG images, and the answers {@code instella
 * generate --temperature 0} gives, computed the way that command computes them (InstellaVL + Generator on a fresh
 * cache, the chat template's single-question prompt), not through the public API the Spark job uses.
 */
public final class TinyModel {
    private static Path dir;
    private static Path images;
    private static InstellaVL vl;
    private static final Map<String, String> ANSWERS = new ConcurrentHashMap<>();

    private TinyModel() {
    }

    /** The checkpoint directory (written on first use). */
    public static synchronized Path dir() {
        if (dir == null) {
            try {
                Path d = Files.createTempDirectory("instella-spark-tiny");
                RandomCheckpoint.write(RandomCheckpoint.Preset.TINY, d, Golden.resolve("model/tokenizer.json"), 17, DType.BF16);
                dir = d;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    /** A folder with {@code a.png} (48x32), {@code b.png} (20x60) and {@code broken.png} (not an image). */
    public static synchronized Path images() {
        if (images == null) {
            try {
                Path d = Files.createTempDirectory("instella-spark-images");
                Files.write(d.resolve("a.png"), png(48, 32, 1));
                Files.write(d.resolve("b.png"), png(20, 60, 2));
                Files.writeString(d.resolve("broken.png"), "this is text, not a PNG file");
                images = d;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return images;
    }

    /** A small PNG with a pattern that depends on {@code seed}. */
    public static byte[] png(int width, int height, int seed) {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                img.setRGB(x, y, ((x * 7 * seed) & 0xff) << 16 | ((y * 5 + seed * 40) & 0xff) << 8 | ((x + y) * 3 & 0xff));
            }
        }
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(img, "png", out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code instella generate --temperature 0 --max-new-tokens N --prompt P [--image I]} on this model. */
    public static String cliAnswer(String prompt, Path image, int maxNewTokens) {
        String key = prompt + '\u0000' + image + '\u0000' + maxNewTokens;
        return ANSWERS.computeIfAbsent(key, k -> {
            // As GenerateCommand: the default decoder with its pixel limit, EXIF orientation not applied.
            List<RgbImage> decoded = image == null ? List.of()
                    : List.of(ImageDecoder.defaults().withMaxPixels(178956970L).withExifOrientation(false).decode(image));
            return generate(prompt, decoded, maxNewTokens);
        });
    }

    private static synchronized String generate(String prompt, List<RgbImage> images, int maxNewTokens) {
        if (vl == null) vl = InstellaVL.load(dir());
        PreparedPrompt p = vl.prepare(ChatTemplate.single(prompt, images.size()), images);
        // GenerateCommand's options with --temperature 0: no filters, no penalty, no seed.
        GenerationOptions o = GenerationOptions.builder().maxNewTokens(maxNewTokens).temperature(0).topK(0).topP(1.0)
                .minP(0.0).repetitionPenalty(1.0).seed(null).stopStrings(List.of()).ignoreEos(false).logprobs(false)
                .topLogprobs(0).build();
        return new Generator(vl).generate(p, o, TokenListener.NONE, vl.contextLength(), false).text();
    }
}
