package io.instella.eval.data;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads the {@code configs:} block of a dataset card's YAML front matter, the part {@code datasets} uses to map
 * configs and splits to files:
 * <pre>
 * configs:
 * - config_name: en
 *   data_files:
 *   - split: dev
 *     path: en/dev-*
 * </pre>
 * Only this shape (with {@code path} a scalar, a block list or a flow list) is understood.
 */
final class ReadmeConfigs {
    private ReadmeConfigs() {}

    record DataFiles(String config, String split, List<String> paths) {}

    static List<DataFiles> parse(String readme) {
        List<DataFiles> out = new ArrayList<>();
        String[] lines = readme.split("\r?\n", -1);
        if (lines.length == 0 || !lines[0].strip().equals("---")) return out;
        int end = 1;
        while (end < lines.length && !lines[end].strip().equals("---")) end++;
        int i = 1;
        while (i < end && !lines[i].startsWith("configs:")) i++;
        i++;
        String config = null;
        String split = null;
        List<String> paths = null;
        boolean inPathList = false;
        for (; i < end; i++) {
            String line = lines[i];
            if (line.isBlank()) continue;
            if (!line.startsWith(" ") && !line.startsWith("-")) break; // next top-level key
            String t = line.strip();
            if (t.startsWith("- ")) t = t.substring(2).strip();
            if (t.startsWith("config_name:")) {
                if (split != null) out.add(new DataFiles(config, split, paths));
                config = unquote(t.substring("config_name:".length()));
                split = null;
                paths = null;
                inPathList = false;
            } else if (t.startsWith("split:")) {
                if (split != null) out.add(new DataFiles(config, split, paths));
                split = unquote(t.substring("split:".length()));
                paths = new ArrayList<>();
                inPathList = false;
            } else if (t.startsWith("path:") && paths != null) {
                String v = t.substring("path:".length()).strip();
                if (v.isEmpty()) {
                    inPathList = true;
                } else if (v.startsWith("[")) {
                    for (String p : v.substring(1, v.lastIndexOf(']')).split(",")) if (!p.isBlank()) paths.add(unquote(p));
                } else {
                    paths.add(unquote(v));
                }
            } else if (inPathList && line.strip().startsWith("- ") && paths != null) {
                paths.add(unquote(line.strip().substring(2)));
            } else if (t.startsWith("data_files:")) {
                String v = t.substring("data_files:".length()).strip();
                if (!v.isEmpty() && config != null) {
                    // data_files: some/glob  (all files form the "train" split)
                    out.add(new DataFiles(config, "train", List.of(unquote(v))));
                }
                inPathList = false;
            } else {
                inPathList = false;
            }
        }
        if (split != null) out.add(new DataFiles(config, split, paths));
        return out;
    }

    private static String unquote(String s) {
        s = s.strip();
        if (s.length() >= 2 && (s.startsWith("\"") && s.endsWith("\"") || s.startsWith("'") && s.endsWith("'"))) {
            return s.substring(1, s.length() - 1);
        }
        return s;
    }
}
