package io.instella.train.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import javax.imageio.ImageIO;

import io.instella.core.testing.Golden;
import io.instella.model.image.ImageProcessingConfig;
import io.instella.model.tokenizer.Tokenizer;

/** Small data sets written at test time (images generated with the JDK, no fixture tools). */
final class TestData {
    private TestData() {}

    private static Tokenizer tokenizer;

    static synchronized Tokenizer tokenizer() {
        if (tokenizer == null) tokenizer = Tokenizer.load(Golden.resolve("model/tokenizer.json"), 50304);
        return tokenizer;
    }

    /** CLIP 336 settings, square mode, flat merge: 576 rows per image. */
    static TrainingImageConfig square() {
        return new TrainingImageConfig(ImageProcessingConfig.clipDefaults("square", null), 24, "flat", null);
    }

    /** Instella's released settings: anyres with its pinpoints, spatial_unpad. */
    static TrainingImageConfig anyres() {
        return new TrainingImageConfig(ImageProcessingConfig.instellaDefaults(), 24, "spatial_unpad", null);
    }

    static byte[] png(int w, int h, int seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) img.setRGB(x, y, (x * 7 + y * 13 + seed * 31) * 0x010203 & 0xffffff);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static void write(Path file, List<String> lines) {
        try {
            Files.write(file, lines);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String record(String id, String image, String question, String answer) {
        return "{\"id\": \"" + id + "\"" + (image == null ? "" : ", \"image\": \"" + image + "\"")
                + ", \"conversations\": [{\"from\": \"human\", \"value\": \"" + (image == null ? "" : "<image>\\n")
                + question + "\"}, {\"from\": \"gpt\", \"value\": \"" + answer + "\"}]}";
    }
}
