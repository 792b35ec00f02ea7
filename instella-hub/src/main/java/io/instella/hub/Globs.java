package io.instella.hub;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Allow-pattern matching as huggingface_hub's filter_repo_objects: Python fnmatch semantics ({@code *} matches any
 * characters including {@code /}, {@code ?} one character, {@code [abc]} / {@code [!abc]} sets, case-sensitive), and a
 * pattern ending in {@code /} means everything under that folder.
 */
final class Globs {

    private Globs() {
    }

    /** The paths matching at least one pattern, in their original order; all paths when {@code patterns} is null. */
    static List<String> filter(List<String> paths, List<String> patterns) {
        if (patterns == null) {
            return List.copyOf(paths);
        }
        List<Pattern> compiled = new ArrayList<>();
        for (String p : patterns) {
            compiled.add(compile(p.endsWith("/") ? p + "*" : p));
        }
        List<String> kept = new ArrayList<>();
        for (String path : paths) {
            for (Pattern p : compiled) {
                if (p.matcher(path).matches()) {
                    kept.add(path);
                    break;
                }
            }
        }
        return kept;
    }

    /** Python's fnmatch.translate, as a Java regex matched against the whole path. */
    static Pattern compile(String glob) {
        StringBuilder re = new StringBuilder();
        int i = 0;
        int n = glob.length();
        while (i < n) {
            char c = glob.charAt(i++);
            if (c == '*') {
                re.append(".*");
                while (i < n && glob.charAt(i) == '*') {
                    i++;
                }
            } else if (c == '?') {
                re.append('.');
            } else if (c == '[') {
                int j = i;
                if (j < n && glob.charAt(j) == '!') {
                    j++;
                }
                if (j < n && glob.charAt(j) == ']') {
                    j++;
                }
                while (j < n && glob.charAt(j) != ']') {
                    j++;
                }
                if (j >= n) {
                    re.append("\\[");
                } else {
                    String set = glob.substring(i, j);
                    i = j + 1;
                    StringBuilder cls = new StringBuilder("[");
                    int k = 0;
                    if (set.startsWith("!")) {
                        cls.append('^');
                        k = 1;
                    } else if (set.startsWith("^")) {
                        cls.append("\\^");
                        k = 1;
                    }
                    for (; k < set.length(); k++) {
                        char sc = set.charAt(k);
                        if (sc == '-') {
                            cls.append('-');
                        } else if (Character.isLetterOrDigit(sc)) {
                            cls.append(sc);
                        } else {
                            cls.append('\\').append(sc);
                        }
                    }
                    re.append(cls).append(']');
                }
            } else {
                re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(re.toString(), Pattern.DOTALL);
    }
}
