package io.instella.model.image;

/**
 * An image file that cannot be turned into RGB pixels: unreadable, truncated, corrupt, of an unknown format,
 * empty, larger than the configured limits, or a decode that ran out of time or was cancelled. The message names
 * the file and the problem in plain words; {@link #kind()} tells callers (such as a server choosing a status code)
 * which of these it is.
 */
public final class ImageDecodeException extends RuntimeException {

    /** What went wrong, for callers that answer differently (e.g. HTTP 400, 413, 408). */
    public enum Kind {
        /** Not an image, an unsupported variant, corrupt or truncated data, an unreadable file. */
        INVALID,
        /** Over the pixel limit, the memory limit (or the heap), or the file size cap. */
        TOO_LARGE,
        /** Reading or decoding took longer than {@link ImageDecoder#withTimeLimit}. */
        TIME_LIMIT,
        /** The decoding thread was interrupted. */
        CANCELLED
    }

    private final String source;
    private final Kind kind;

    public ImageDecodeException(String source, String problem) {
        this(source, Kind.INVALID, problem, null);
    }

    public ImageDecodeException(String source, String problem, Throwable cause) {
        this(source, Kind.INVALID, problem, cause);
    }

    public ImageDecodeException(String source, Kind kind, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
        this.source = source;
        this.kind = kind;
    }

    /** The file name (or the name given for in-memory bytes). */
    public String source() {
        return source;
    }

    public Kind kind() {
        return kind;
    }
}
