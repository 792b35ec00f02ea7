package io.instella.hub;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** Downloaded bytes reach the file in blocks ending at multiples of WRITE_BLOCK, unchanged, from any resume offset. */
class BlockWriterTest {
    @TempDir
    Path dir;

    @Test
    void writesWholeAlignedBlocksAndKeepsEveryByte() throws IOException {
        int block = HubClient.WRITE_BLOCK;
        long start = 1_234_567; // a resumed download starts anywhere
        SplittableRandom r = new SplittableRandom(7);
        byte[] body = new byte[2 * block + 777_777];
        r.nextBytes(body);
        byte[] head = new byte[(int) start];
        r.nextBytes(head);
        Path file = dir.resolve("blob.incomplete");
        Files.write(file, head);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.position(start);
            HubClient.BlockWriter writer = new HubClient.BlockWriter(channel, file, start);
            for (int off = 0; off < body.length; ) {
                int n = Math.min(body.length - off, 1 + r.nextInt(1 << 20)); // network-sized pieces
                writer.write(Arrays.copyOfRange(body, off, off + n), n);
                off += n;
                // Nothing is written past the last block boundary reached; the first block ends at one.
                long size = Files.size(file);
                assertThat(size == start || size % block == 0).as("file size %d after %d bytes", size, off).isTrue();
                assertThat(size).isLessThanOrEqualTo(start + off);
                assertThat(writer.next).isEqualTo(start + off);
            }
            writer.flush();
        }
        byte[] all = Files.readAllBytes(file);
        assertThat(Arrays.copyOfRange(all, 0, (int) start)).isEqualTo(head);
        assertThat(Arrays.copyOfRange(all, (int) start, all.length)).isEqualTo(body);
    }
}
