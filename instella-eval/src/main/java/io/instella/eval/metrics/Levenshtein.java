package io.instella.eval.metrics;

/** Unit-cost edit distance over code points ({@code api/metrics.py levenshtein_distance}). */
public final class Levenshtein {
    private Levenshtein() {}

    public static int distance(String a, String b) {
        int[] s1 = a.codePoints().toArray();
        int[] s2 = b.codePoints().toArray();
        if (s1.length > s2.length) {
            int[] t = s1;
            s1 = s2;
            s2 = t;
        }
        int[] prev = new int[s1.length + 1];
        int[] cur = new int[s1.length + 1];
        for (int i = 0; i <= s1.length; i++) prev[i] = i;
        for (int i2 = 0; i2 < s2.length; i2++) {
            cur[0] = i2 + 1;
            for (int i1 = 0; i1 < s1.length; i1++) {
                if (s1[i1] == s2[i2]) cur[i1 + 1] = prev[i1];
                else cur[i1 + 1] = 1 + Math.min(prev[i1], Math.min(prev[i1 + 1], cur[i1]));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[s1.length];
    }
}
