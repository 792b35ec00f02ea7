package io.instella.model.image.webp;

/** A WebP file that is malformed; the message says what is wrong, {@link WebpDecoder} adds the file name. */
final class WebpFormatException extends RuntimeException {

    WebpFormatException(String message) {
        super(message, null, false, false);
    }
}
