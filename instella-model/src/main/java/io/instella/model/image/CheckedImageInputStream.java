package io.instella.model.image;

import java.io.IOException;
import java.util.Objects;

import javax.imageio.IIOException;
import javax.imageio.stream.ImageInputStreamImpl;

/**
 * An in-memory image input stream (no temporary file, unlike {@code ImageIO.createImageInputStream}) whose reads
 * fail once the decode's {@link DecodeBudget} says stop, so a decoder waiting on input gives up promptly. Its
 * length is reported as unknown (-1), as {@code MemoryCacheImageInputStream}'s was, so readers behave as before.
 */
final class CheckedImageInputStream extends ImageInputStreamImpl {

    /** Single-byte reads between two clock reads: the clock costs more than a byte. */
    private static final int BYTES_PER_CHECK = 4096;

    private final byte[] data;
    private final DecodeBudget budget;
    private int uncheckedReads;

    CheckedImageInputStream(byte[] data, DecodeBudget budget) {
        this.data = data;
        this.budget = budget;
    }

    private void checkBudget() throws IIOException {
        if (budget.shouldStop()) throw new IIOException("decode stopped");
    }

    @Override
    public int read() throws IOException {
        checkClosed();
        if (++uncheckedReads >= BYTES_PER_CHECK) {
            uncheckedReads = 0;
            checkBudget();
        }
        bitOffset = 0;
        if (streamPos >= data.length) return -1;
        return data[(int) streamPos++] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        checkClosed();
        Objects.checkFromIndexSize(off, len, b.length);
        checkBudget();
        bitOffset = 0;
        if (len == 0) return 0;
        if (streamPos >= data.length) return -1;
        int n = (int) Math.min(len, data.length - streamPos);
        System.arraycopy(data, (int) streamPos, b, off, n);
        streamPos += n;
        return n;
    }

    @Override
    public boolean isCached() {
        return true;
    }

    @Override
    public boolean isCachedMemory() {
        return true;
    }
}
