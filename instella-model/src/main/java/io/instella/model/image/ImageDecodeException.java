package io.instella.model.image;

/**
 * An image file that cannot be turned into RGB pixels: unreadable, truncated, corrupt, of an unknown format,
 * empty, or larger than the configured pixel limit. The message names the file and the problem.
 */
public final class ImageDecodeException extends RuntimeException {

    private final String source;

    public ImageDecodeException(String source, String problem) {
        super(source + ": " + problem);
        this.source = source;
    }

    public ImageDecodeException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
        this.source = source;
    }

    /** The file name (or the name given for in-memory bytes). */
    public String source() {
        return source;
    }
}
