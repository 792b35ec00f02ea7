package io.instella.model.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.core.safetensors.SafeTensorsFile;
import io.instella.core.tensor.Tensor;
import io.instella.core.testing.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every decode golden (Pillow 9.4 {@code Image.open(f).convert("RGB")}) against {@link ImageDecoder}. All cases are
 * bit-exact: JPEG (the JDK's libjpeg 6b ISLOW IDCT + fancy upsampling equals Pillow's libjpeg-turbo) and lossy WebP
 * (the project's own VP8 decoder with libwebp's fancy upsampling and fixed-point YUV -> RGB) included.
 */
class ImageDecoderGoldenTest {

    static Stream<String> cases() throws IOException {
        JsonNode index = new ObjectMapper().readTree(Golden.dir().resolve("decode/index.json").toFile());
        List<String> names = new ArrayList<>();
        for (JsonNode c : index.get("cases")) names.add(c.get("name").asText() + "|" + c.get("file").asText());
        return names.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void decodesLikePillow(String nameAndFile) {
        String name = nameAndFile.substring(0, nameAndFile.indexOf('|'));
        String file = nameAndFile.substring(nameAndFile.indexOf('|') + 1);
        Path dir = Golden.dir().resolve("decode");
        RgbImage image = ImageDecoder.defaults().decode(dir.resolve(file));
        try (SafeTensorsFile st = SafeTensorsFile.open(dir.resolve(name + ".rgb.safetensors"))) {
            Tensor rgb = st.tensor("rgb");
            assertThat(rgb.shape()).containsExactly(image.height(), image.width(), 3);
            byte[] actual = image.rgb();
            int max = 0;
            long sum = 0;
            int differing = 0;
            for (int i = 0; i < actual.length; i++) {
                int d = Math.abs((actual[i] & 0xFF) - (int) rgb.getLong(i));
                max = Math.max(max, d);
                sum += d;
                if (d != 0) differing++;
            }
            double mean = (double) sum / actual.length;
            System.out.printf("decode %-26s max|diff|=%d mean|diff|=%.5f differing=%d/%d%n", name, max, mean,
                    differing, actual.length);
            assertThat(differing).as("%s: bytes differing from Pillow (max diff %d)", name, max).isZero();
        }
    }
}
