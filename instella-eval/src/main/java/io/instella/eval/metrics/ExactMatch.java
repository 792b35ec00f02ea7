package io.instella.eval.metrics;

import io.instella.eval.py.PyStr;

/**
 * lmms-eval's registry {@code exact_match} ({@code api/metrics.py exact_match_hf_evaluate}) for one
 * prediction/reference pair. Upstream runs on NumPy fixed-width unicode arrays: {@code np.char.lower} keeps the
 * array's width, so a lower-cased string that grew (e.g. "İ" becomes two code points) is cut back to the input
 * length, and trailing NUL characters vanish. Only the 32 ASCII punctuation characters are removed; there is no
 * whitespace or article normalisation.
 */
public final class ExactMatch {
    private ExactMatch() {}

    /** Python's {@code string.punctuation}. */
    public static final String ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /** 1.0 when the normalised strings are equal, else 0.0 (NumPy float64 as upstream returns). */
    public static double score(String prediction, String reference, boolean ignoreCase, boolean ignorePunctuation) {
        return normalize(prediction, ignoreCase, ignorePunctuation).equals(normalize(reference, ignoreCase, ignorePunctuation))
                ? 1.0 : 0.0;
    }

    /** The string as the NumPy pipeline leaves it before the comparison. */
    public static String normalize(String s, boolean ignoreCase, boolean ignorePunctuation) {
        int width = Math.max(1, PyStr.len(s));
        String v = numpyStore(s, width);
        if (ignoreCase) v = numpyStore(PyStr.lower(v), width);
        if (ignorePunctuation) v = removeAsciiPunctuation(v);
        return v;
    }

    /** Storing into a {@code <U width} array: truncate to the width, then trailing NULs are not kept. */
    static String numpyStore(String s, int width) {
        String t = PyStr.headCodePoints(s, width);
        int end = t.length();
        while (end > 0 && t.charAt(end - 1) == '\0') end--;
        return t.substring(0, end);
    }

    static String removeAsciiPunctuation(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (ASCII_PUNCTUATION.indexOf(c) < 0) sb.append(c);
        }
        return sb.toString();
    }
}
