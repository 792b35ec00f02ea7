package io.instella.train.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

/**
 * The training records: one data file, or a mixture of several described by a YAML file in upstream's forms.
 *
 * <p>Offline form ({@code LazySupervisedDataset}): {@code datasets: [{json_path, sampling_strategy}]} with
 * {@code all} (default), {@code first:N}, {@code end:N}, {@code random:N}; N may be {@code P%} (an integer percent,
 * {@code ceil(P * size / 100)}). {@code random:N} is upstream's {@code random.shuffle} then the first N, with
 * Python's {@code random} seeded once with the run's seed before the first dataset and shared by all datasets in
 * order, exactly as {@code fix_random_seed(42)} leaves it. As upstream, {@code end:0} keeps every record (Python's
 * {@code [-0:]}) and {@code repeat:R} as a sampling strategy is ignored (a warning says so).
 *
 * <p>Online form ({@code InstellaVLStreamingDataset}): per dataset {@code choose: N} (N records per epoch) or
 * {@code repeat: R} (R times its records per epoch, R may be fractional). Whole copies come first, the remainder is
 * a random subset drawn anew each epoch from the seed ({@code random.Random(seed + (epoch << 64) + ((d + 1) << 96))}
 * shuffles the dataset's records and the first ones are taken): reproducible, but not MosaicML streaming's own
 * sampling. A zero {@code choose}/{@code repeat} means "absent", as upstream's truthiness test does.
 *
 * <p>A dataset's file is given by {@code json_path} (or {@code data_path}, {@code path}, or a local
 * {@code shard_path}); relative paths are resolved against the YAML file's folder. Our addition: a dataset may
 * have its own {@code image_folder} (upstream has one for the whole run). Files: {@code .json}, {@code .jsonl},
 * {@code .parquet} or a folder of {@code .parquet} shards.
 */
public final class DataMixture implements AutoCloseable {

    /** One dataset of the mixture. */
    static final class Entry {
        final String label;
        final RecordSource source;
        /** The record indices kept by sampling_strategy (null: all, in file order). */
        final int[] selected;
        /** Records per epoch. */
        final long perEpoch;

        Entry(String label, RecordSource source, int[] selected, long perEpoch) {
            this.label = label;
            this.source = source;
            this.selected = selected;
            this.perEpoch = perEpoch;
        }

        int size() {
            return selected == null ? source.size() : selected.length;
        }

        int record(int i) {
            return selected == null ? i : selected[i];
        }
    }

    private final List<Entry> entries;
    private final List<String> warnings;
    private final long seed;

    private DataMixture(List<Entry> entries, List<String> warnings, long seed) {
        this.entries = List.copyOf(entries);
        this.warnings = List.copyOf(warnings);
        this.seed = seed;
    }

    /**
     * Opens a data file ({@code .json}, {@code .jsonl}, {@code .parquet}, a folder of parquet shards) or a mixture
     * ({@code .yaml}/{@code .yml}).
     *
     * @param imageFolder {@code --image-folder}: where relative image paths are resolved (may be null)
     * @param seed        {@code --seed}: Python's random seed for {@code random:N}, and the per-epoch draws
     */
    public static DataMixture open(Path data, Path imageFolder, long seed) {
        String name = data.getFileName() == null ? "" : data.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".yaml") || name.endsWith(".yml")) return openYaml(data, imageFolder, seed);
        RecordSource source = openSource(data, imageFolder);
        return new DataMixture(List.of(new Entry(data.toString(), source, null, source.size())), List.of(), seed);
    }

    /** A mixture of already opened sources, each read whole once per epoch (tests, and callers with own sources). */
    static DataMixture ofSources(List<RecordSource> sources, long seed) {
        List<Entry> entries = new ArrayList<>();
        for (RecordSource s : sources) entries.add(new Entry(s.name(), s, null, s.size()));
        return new DataMixture(entries, List.of(), seed);
    }

    static RecordSource openSource(Path file, Path imageFolder) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (Files.isDirectory(file) || name.endsWith(".parquet")) return ParquetRecordSource.open(file);
        if (!Files.exists(file)) throw new DataException(file + ": data file not found");
        if (name.endsWith(".json") || name.endsWith(".jsonl") || name.endsWith(".json_new")) {
            return JsonRecordFile.open(file, imageFolder);
        }
        throw new DataException(file + ": unsupported data file (use .json, .jsonl, .parquet or a .yaml mixture)");
    }

    private static DataMixture openYaml(Path yaml, Path imageFolder, long seed) {
        JsonNode root;
        try {
            root = new YAMLMapper().readTree(Files.readString(yaml));
        } catch (IOException e) {
            throw new DataException(yaml + ": cannot read the data mixture (" + e.getMessage() + ")");
        }
        JsonNode datasets = root == null ? null : root.get("datasets");
        if (datasets == null || !datasets.isArray() || datasets.isEmpty()) {
            throw new DataException(yaml + ": expected a 'datasets:' list (each entry with json_path, and optionally "
                    + "sampling_strategy, choose or repeat)");
        }
        Path base = yaml.toAbsolutePath().getParent();
        PythonRandom random = new PythonRandom(seed); // fix_random_seed(seed): one stream for all random:N entries
        List<Entry> entries = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        try {
            int d = 0;
            for (JsonNode ds : datasets) {
                d++;
                String where = yaml + ": dataset " + d;
                if (!ds.isObject()) throw new DataException(where + " must be a mapping with json_path");
                String pathText = null;
                for (String key : new String[] {"json_path", "data_path", "path", "shard_path"}) {
                    if (ds.hasNonNull(key)) {
                        pathText = ds.get(key).asText();
                        break;
                    }
                }
                if (pathText == null) throw new DataException(where + " has no json_path");
                if (pathText.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*")) {
                    throw new DataException(where + ": remote data '" + pathText + "' is not supported; download it "
                            + "and give a local .json, .jsonl or .parquet path");
                }
                Path file = base.resolve(pathText);
                Path folder = imageFolder;
                if (ds.hasNonNull("image_folder")) folder = base.resolve(ds.get("image_folder").asText());
                RecordSource source = openSource(file, folder);
                int[] selected = sample(source.size(), ds.path("sampling_strategy").asText("all"), random, where, warnings);
                int size = selected == null ? source.size() : selected.length;
                long perEpoch = size;
                double choose = number(ds, "choose", where);
                double repeat = number(ds, "repeat", where);
                if (choose > 0) {
                    if (choose != Math.rint(choose)) throw new DataException(where + ": choose must be a whole number");
                    perEpoch = (long) choose;
                } else if (repeat > 0) {
                    perEpoch = Math.round(size * repeat);
                }
                if (size == 0 && perEpoch > 0) {
                    warnings.add(where + " (" + file + ") has no records; choose/repeat cannot draw from it");
                    perEpoch = 0;
                }
                entries.add(new Entry(file.toString(), source, selected, perEpoch));
            }
        } catch (RuntimeException e) {
            for (Entry en : entries) en.source.close();
            throw e;
        }
        return new DataMixture(entries, warnings, seed);
    }

    private static double number(JsonNode ds, String key, String where) {
        JsonNode n = ds.get(key);
        if (n == null || n.isNull()) return 0;
        double v;
        if (n.isNumber()) v = n.asDouble();
        else {
            try {
                v = Double.parseDouble(n.asText().trim());
            } catch (NumberFormatException e) {
                throw new DataException(where + ": " + key + " must be a number, got '" + n.asText() + "'");
            }
        }
        if (v < 0 || Double.isNaN(v) || Double.isInfinite(v)) throw new DataException(where + ": " + key + " must be positive, got " + v);
        return v;
    }

    /** Upstream's sampling_strategy over a dataset of {@code size} records; null = all in order. */
    static int[] sample(int size, String strategy, PythonRandom random, String where, List<String> warnings) {
        String s = strategy.trim();
        if (s.isEmpty() || s.equals("all")) return null;
        int colon = s.indexOf(':');
        if (colon < 0) {
            throw new DataException(where + ": sampling_strategy '" + strategy + "' is not one of all, first:N, end:N, "
                    + "random:N (N may be P%)");
        }
        String kind = s.substring(0, colon);
        String number = s.substring(colon + 1).trim();
        if (kind.equals("repeat")) {
            warnings.add(where + ": sampling_strategy '" + strategy + "' is ignored (upstream's offline loader does "
                    + "not implement it); write 'repeat: " + number + "' to up-sample");
            return null;
        }
        long n;
        try {
            if (number.contains("%")) {
                long percent = Long.parseLong(number.substring(0, number.indexOf('%')).trim());
                n = (long) Math.ceil((double) (percent * size) / 100);
            } else {
                n = Long.parseLong(number);
            }
        } catch (NumberFormatException e) {
            throw new DataException(where + ": sampling_strategy '" + strategy + "': '" + number + "' is not a whole "
                    + "number or an integer percentage");
        }
        if (n < 0) throw new DataException(where + ": sampling_strategy '" + strategy + "' needs N >= 0");
        int keep = (int) Math.min(n, size);
        int[] all = new int[size];
        for (int i = 0; i < size; i++) all[i] = i;
        return switch (kind) {
            case "first" -> Arrays.copyOf(all, keep);
            // Python's x[-0:] is the whole list.
            case "end" -> n == 0 ? all : Arrays.copyOfRange(all, size - keep, size);
            case "random" -> {
                random.shuffle(all);
                yield Arrays.copyOf(all, keep);
            }
            default -> throw new DataException(where + ": sampling_strategy '" + strategy + "' is not one of all, "
                    + "first:N, end:N, random:N");
        };
    }

    /** Problems worth a log line that do not stop the run (e.g. an ignored sampling strategy). */
    public List<String> warnings() {
        return warnings;
    }

    /** Number of datasets. */
    public int datasets() {
        return entries.size();
    }

    /** Records in every epoch (after sampling, choose and repeat). */
    public long recordsPerEpoch() {
        long n = 0;
        for (Entry e : entries) n += e.perEpoch;
        return n;
    }

    /** Records per epoch of each dataset, by file, in YAML order. */
    public List<String> describe() {
        List<String> out = new ArrayList<>();
        for (Entry e : entries) out.add(e.label + ": " + e.perEpoch + " records per epoch (of " + e.size() + ")");
        return out;
    }

    /**
     * The records of one epoch, in dataset order, before the loader's shuffle: references for {@link #read}
     * ({@code dataset << 32 | record index in its file}).
     */
    public long[] epochRecords(int epoch) {
        long total = recordsPerEpoch();
        if (total > Integer.MAX_VALUE - 8) throw new DataException("more than 2^31 records per epoch are not supported");
        long[] out = new long[(int) total];
        int pos = 0;
        for (int d = 0; d < entries.size(); d++) {
            Entry e = entries.get(d);
            int size = e.size();
            if (size == 0) continue;
            long full = e.perEpoch / size;
            int rest = (int) (e.perEpoch % size);
            for (long c = 0; c < full; c++) {
                for (int i = 0; i < size; i++) out[pos++] = ref(d, e.record(i));
            }
            if (rest > 0) {
                int[] perm = new int[size];
                for (int i = 0; i < size; i++) perm[i] = i;
                PythonRandom.forKey(seed, epoch, d + 1L).shuffle(perm);
                int[] chosen = Arrays.copyOf(perm, rest);
                Arrays.sort(chosen);
                for (int i : chosen) out[pos++] = ref(d, e.record(i));
            }
        }
        return out;
    }

    static long ref(int dataset, int record) {
        return ((long) dataset << 32) | (record & 0xffffffffL);
    }

    /** Reads a record referenced by {@link #epochRecords}. */
    LlavaRecord read(long ref) throws RecordSkipped {
        return entries.get((int) (ref >>> 32)).source.read((int) ref);
    }

    /** Where a referenced record is, for messages when it could not even be read. */
    String locate(long ref) {
        return entries.get((int) (ref >>> 32)).source.name() + "#" + (int) ref;
    }

    @Override
    public void close() {
        for (Entry e : entries) e.source.close();
    }
}
