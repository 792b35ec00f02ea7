package io.instella.langchain4j;

import dev.langchain4j.data.message.ImageContent;
import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Base64;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ImageLoaderTest {
    final ImageLoader loader = new ImageLoader(List.of("images.example.com", "*.cdn.example.org"), Duration.ofSeconds(5), 1 << 20);

    @Test
    void hostPatterns() {
        assertThat(loader.hostAllowed("images.example.com")).isTrue();
        assertThat(loader.hostAllowed("example.com")).isFalse();
        assertThat(loader.hostAllowed("a.cdn.example.org")).isTrue();
        assertThat(loader.hostAllowed("a.b.cdn.example.org")).isTrue();
        assertThat(loader.hostAllowed("cdn.example.org")).isFalse();
        assertThat(loader.hostAllowed("evilcdn.example.org")).isFalse();
    }

    /** The same image in a later turn is the same Image object, so the model reuses its vision encoding. */
    @Test
    void repeatedImagesAreTheSameObjectUntilTheFileChanges(@TempDir Path tmp) throws IOException {
        Path png = Golden.resolve("images/sq336.png");
        String base64 = Base64.getEncoder().encodeToString(Files.readAllBytes(png));
        var first = loader.load(ImageContent.from(base64, "image/png"), "turn 1");
        assertThat(loader.load(ImageContent.from(base64, "image/png"), "turn 2")).isSameAs(first);

        Path copy = Files.copy(png, tmp.resolve("copy.png"));
        var fromFile = loader.load(ImageContent.from(copy.toUri()), "turn 1");
        assertThat(loader.load(ImageContent.from(copy.toUri()), "turn 2")).isSameAs(fromFile);
        Files.setLastModifiedTime(copy, FileTime.fromMillis(Files.getLastModifiedTime(copy).toMillis() - 60_000));
        assertThat(loader.load(ImageContent.from(copy.toUri()), "turn 3")).isNotSameAs(fromFile);
    }
}
