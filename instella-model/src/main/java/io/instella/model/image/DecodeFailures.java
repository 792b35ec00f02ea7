package io.instella.model.image;

import java.io.EOFException;
import java.io.IOException;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;
import java.util.zip.DataFormatException;
import java.util.zip.ZipException;

import io.instella.model.image.ImageDecoder.Format;

/**
 * Turns whatever a decoder throws into an {@link ImageDecodeException} a user can read: which file, which format,
 * what is wrong, in plain words. JDK and plugin internals (class names, "cannot be cast", array indexes) never
 * reach the message; the original throwable stays attached as the cause for logs.
 */
final class DecodeFailures {
    private DecodeFailures() {}

    static ImageDecodeException toDecodeException(String name, Format format, Throwable t, DecodeBudget budget,
            ImageHeaders.Facts facts) {
        if (budget.stopped() != null) {
            if (t instanceof ImageDecodeException e && (e.kind() == ImageDecodeException.Kind.CANCELLED
                    || e.kind() == ImageDecodeException.Kind.TIME_LIMIT)) {
                return e;
            }
            return budget.stoppedError(name, format.label, t instanceof DecodeBudget.StopSignal ? null : t);
        }
        if (t instanceof ImageDecodeException e) return e;
        String label = format.label;
        if (t instanceof OutOfMemoryError) {
            String size = facts == null ? "" : " (" + facts.width() + "x" + facts.height() + ")";
            return new ImageDecodeException(name, ImageDecodeException.Kind.TOO_LARGE, label + " image too large "
                    + "to decode in the memory available" + size, t);
        }
        if (t instanceof StackOverflowError) {
            return new ImageDecodeException(name, "corrupt " + label + " data: its structure is nested too deeply "
                    + "to decode", t);
        }
        if (t instanceof LinkageError) {
            return new ImageDecodeException(name, "the " + label + " decoder is not usable in this installation", t);
        }
        return new ImageDecodeException(name, "corrupt or truncated " + label + " data" + detail(t), t);
    }

    /** " (plain reason)" from the decoder's I/O errors, or "" when none reads as plain words. */
    private static String detail(Throwable t) {
        Set<String> reasons = new LinkedHashSet<>();
        boolean endOfData = false;
        boolean badCompression = false;
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage();
            String lm = m == null ? "" : m.toLowerCase(Locale.ROOT);
            if (c instanceof EOFException || lm.contains("end of file") || lm.contains("unexpected end")
                    || lm.contains("premature end") || lm.contains("eof")) {
                endOfData = true;
            } else if (c instanceof ZipException || c instanceof DataFormatException) {
                badCompression = true;
            } else if (c instanceof IOException && ImageDecoder.isPlainText(m) && reasons.size() < 2) {
                // Readers' own I/O messages ("Unsupported TIFF compression: 9") are worth showing; runtime
                // exceptions from inside a decoder are not (their messages describe the decoder, not the file).
                reasons.add(m.strip());
            }
        }
        if (endOfData) reasons.add("the data ends before the image is complete");
        if (badCompression) reasons.add("the compressed image data is invalid");
        return reasons.isEmpty() ? "" : " (" + String.join("; ", reasons) + ")";
    }
}
