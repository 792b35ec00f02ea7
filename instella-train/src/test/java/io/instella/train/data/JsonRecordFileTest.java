package io.instella.train.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Records are found by byte offsets (multi-byte text, CRLF, no final newline) and parsed only when read. */
class JsonRecordFileTest {
    @TempDir
    Path dir;

    static final String R1 = "{\"id\": \"é–1\", \"image\": [\"x/ä.png\", \"y.png\"], \"conversations\": "
            + "[{\"from\": \"human\", \"value\": \"<image>\\n<image>\\nwhich? 😀\"}, {\"from\": \"gpt\", \"value\": \"ü\"}]}";
    static final String R2 = "{\"conversations\": [{\"from\": \"human\", \"value\": \"[nested] {braces}\"}, "
            + "{\"from\": \"gpt\", \"value\": \"ok\"}], \"id\": 17}";
    static final String R3 = "{\"image\": null, \"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, "
            + "{\"from\": \"gpt\", \"value\": \"a\"}]}";

    void check(JsonRecordFile f, String firstLocation) throws Exception {
        assertThat(f.size()).isEqualTo(3);
        LlavaRecord a = f.read(0);
        assertThat(a.location()).isEqualTo(firstLocation);
        assertThat(a.id()).isEqualTo("é–1");
        assertThat(a.images()).extracting(LlavaRecord.ImageRef::name).containsExactly("x/ä.png", "y.png");
        assertThat(((LlavaRecord.FileImage) a.images().get(0)).path()).isEqualTo(dir.resolve("x/ä.png"));
        assertThat(a.conversations().get(0).value()).isEqualTo("<image>\n<image>\nwhich? 😀");
        LlavaRecord b = f.read(1);
        assertThat(b.id()).isEqualTo("17");
        assertThat(b.hasImage()).isFalse();
        LlavaRecord c = f.read(2);
        assertThat(c.id()).isEqualTo("2"); // no id: its position in the file
        assertThat(c.hasImage()).isFalse(); // "image": null counts as absent
    }

    @Test
    void jsonlWithMultiByteTextCrlfBlankLinesAndNoFinalNewline() throws Exception {
        Path p = dir.resolve("d.jsonl");
        Files.writeString(p, R1 + "\r\n\r\n   \n" + R2 + "\r\n" + R3, StandardCharsets.UTF_8);
        try (JsonRecordFile f = JsonRecordFile.open(p, dir)) {
            check(f, p + ":1");
            assertThat(f.read(1).location()).isEqualTo(p + ":4");
            assertThat(f.read(2).location()).isEqualTo(p + ":5");
        }
    }

    @Test
    void jsonArrayIsIndexedWithoutKeepingRecords() throws Exception {
        Path p = dir.resolve("d.json");
        Files.writeString(p, "[\n  " + R1 + ",\n" + R2 + "," + R3 + "\n]\n", StandardCharsets.UTF_8);
        try (JsonRecordFile f = JsonRecordFile.open(p, dir)) {
            check(f, p + "#0");
        }
    }

    @Test
    void trailingTextAfterTheRecordIsMalformedAsInPython() throws Exception {
        Path p = dir.resolve("t.jsonl");
        Files.writeString(p, R2 + " x\n" + R2 + R2 + "\n");
        try (JsonRecordFile f = JsonRecordFile.open(p, dir)) {
            for (int i = 0; i < 2; i++) {
                int line = i + 1;
                org.assertj.core.api.Assertions.assertThatThrownBy(() -> f.read(line - 1))
                        .isInstanceOfSatisfying(RecordSkipped.class, e -> assertThat(e.skip().reason())
                                .isEqualTo(DataReport.Reason.MALFORMED_JSON))
                        .hasMessageStartingWith(p + ":" + line + ": not valid JSON");
            }
        }
    }
}
