package io.instella.core.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A small mutation fuzzer for the parsers that read untrusted bytes (safetensors headers, images, config.json,
 * tokenizer.json, API requests). No coverage guidance: it starts from valid seed files and applies stacked
 * byte-level and structure-aware mutations ({@link Mutators}), runs each case on a worker thread with a time
 * bound, and judges the outcome with a {@link Judge}: a case passes when the call returns an acceptable result or
 * throws the area's own exception with a clean message; anything else (another {@code Throwable}, a hang, a wrong
 * acceptance, a message naming JDK classes) is a failure.
 *
 * <p>Settings (system properties, so that {@code mvn ... -Dinstella.fuzz.tries=100000} reaches the forked JVM):
 * <ul>
 *   <li>{@code instella.fuzz.seconds}: time budget per target (default 3; CI);
 *   <li>{@code instella.fuzz.tries}: number of mutated cases per target; when set, the time budget is ignored
 *       unless {@code instella.fuzz.seconds} is set too;
 *   <li>{@code instella.fuzz.seed}: random seed (default: fixed per target, so a CI run is repeatable; "random"
 *       draws one, printed in the report);
 *   <li>{@code instella.fuzz.timeoutMs}: bound per case (default 2000, in CI 5000 as CI machines are shared;
 *       seeds get 10 times that, for class loading);
 *   <li>{@code instella.fuzz.maxHangs}: stop a target after this many hangs (default 2, in CI 1: a hung thread
 *       cannot be stopped and keeps a core busy until the test JVM exits);
 *   <li>{@code instella.fuzz.skipKnownSlow}: skip inputs a target marks as reaching an already reported slow
 *       path (see {@link #knownSlow}); default false: the issue-14 fixes made those paths fast, so CI runs them too;
 *   <li>{@code instella.fuzz.maxInputBytes}: larger mutated inputs are drawn again (default 4 MiB);
 *   <li>{@code instella.fuzz.minimise}: shrink each distinct failing input before saving it (default: not in CI);
 *   <li>{@code instella.fuzz.findings}: directory where failing inputs are written (default
 *       {@code target/fuzz-findings}), one file per distinct failure plus a {@code .txt} with the symptom;
 *   <li>{@code instella.fuzz.target}: run only targets whose name contains this string (others are skipped).
 * </ul>
 */
public final class Fuzzer {

    /** The code under test, called with one input. */
    @FunctionalInterface
    public interface Target {
        void run(byte[] input) throws Throwable;
    }

    /**
     * Decides whether a call's outcome is acceptable.
     */
    public interface Judge {
        /** Null when the thrown exception is the area's own with a clean message; otherwise what is wrong. */
        String rejectionProblem(Throwable thrown);
    }

    /** A failing outcome: thrown by a target to say "accepted, but wrongly" (an oracle violation). */
    public static final class WrongAcceptance extends RuntimeException {
        final String kind;

        /** @param kind what was wrongly accepted, without the case's numbers (used to tell findings apart) */
        public WrongAcceptance(String kind, String detail) {
            super(kind + (detail == null || detail.isEmpty() ? "" : ": " + detail));
            this.kind = kind;
        }
    }

    /** One distinct failure: its signature, the first (minimised) input that showed it, and what happened. */
    public record Finding(String signature, byte[] input, String symptom, String detail, Path savedAs) {}

    /** What a run did. */
    public record Report(String target, long tried, long failures, long hangs, long seconds100,
                         Map<String, Finding> distinct, long seed, String note) {
        /** The distinct failures whose signatures match none of {@code tolerated}. */
        public List<String> unexpected(List<Pattern> tolerated) {
            return distinct.keySet().stream().filter(s -> tolerated.stream().noneMatch(p -> p.matcher(s).find())).toList();
        }

        public String summary() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "fuzz %-22s tried %,9d cases in %6.1f s (seed %d): %d failures, %d hangs, %d distinct",
                    target, tried, seconds100 / 100.0, seed, failures, hangs, distinct.size()));
            if (!note.isEmpty()) sb.append("\n    note: ").append(note);
            for (Finding f : distinct.values()) {
                sb.append("\n    ").append(f.signature()).append("\n      ").append(firstLine(f.symptom(), 300));
                if (f.savedAs() != null) sb.append("\n      input: ").append(f.savedAs());
            }
            return sb.toString();
        }
    }

    private static final Pattern LEAKED_CLASS = Pattern.compile(
            "\\b(java|javax|jdk|sun|com\\.sun|com\\.fasterxml|com\\.twelvemonkeys|org\\.eclipse)\\.[a-z]+\\.[A-Za-z]|"
                    + "\\b(?!DecompressionBombError)[A-Z][A-Za-z]*(Exception|Error)\\b");

    /**
     * The clean-message rule shared by all targets: a message exists, is not too long, and names no JDK or
     * library class (users cannot act on "class java.io.EOFException cannot be cast to ...").
     */
    public static String messageProblem(Throwable t) {
        String m = t.getMessage();
        if (m == null || m.isBlank()) return "message is empty";
        if (m.length() > 4096) return "message is too long — " + m.length() + " characters";
        var matcher = LEAKED_CLASS.matcher(m);
        if (matcher.find()) return "message names a JDK or library class — '" + matcher.group() + "'";
        return null;
    }

    private final String name;
    private final List<byte[]> seeds;
    private final Mutators.Mutator mutator;
    private final Target target;
    private final Judge judge;
    private final long defaultSeed;
    private java.util.function.Predicate<byte[]> knownSlow = b -> false;
    private String knownSlowWhat = "";

    public Fuzzer(String name, List<byte[]> seeds, Mutators.Mutator mutator, Target target, Judge judge) {
        if (seeds.isEmpty()) throw new IllegalArgumentException("no seeds for " + name);
        this.name = name;
        this.seeds = seeds;
        this.mutator = mutator;
        this.target = target;
        this.judge = judge;
        this.defaultSeed = name.hashCode() * 0x9E3779B97F4A7C15L;
    }

    /**
     * Inputs that reach a slow path already reported (e.g. huge declared sizes while the per-decode budget is
     * missing): with {@code -Dinstella.fuzz.skipKnownSlow=true} they are drawn again instead of run, so that a long
     * run explores the rest instead of stopping after {@code maxHangs}. Off by default (CI runs everything).
     */
    public Fuzzer knownSlow(String what, java.util.function.Predicate<byte[]> inputs) {
        this.knownSlow = inputs;
        this.knownSlowWhat = what;
        return this;
    }

    /** True for the short run of a plain {@code mvn verify} (neither tries nor seconds asked for). */
    public static boolean ciMode() {
        return System.getProperty("instella.fuzz.tries", "").isBlank() && System.getProperty("instella.fuzz.seconds", "").isBlank();
    }

    /** Whether {@code instella.fuzz.target} selects this target (for long runs of one target). */
    public static boolean selected(String name) {
        String only = System.getProperty("instella.fuzz.target", "");
        return only.isBlank() || name.contains(only);
    }

    /** Checks one input (a corpus file): null when the outcome is acceptable, otherwise the failure's symptom. */
    public String check(byte[] input, long timeoutMillis) {
        ExecutorService worker = newWorker();
        try {
            Outcome o = runOne(worker, input, timeoutMillis);
            return o == null ? null : o.symptom;
        } finally {
            worker.shutdownNow();
        }
    }

    /** Runs the seeds, then mutated cases until the tries or the time budget are used up. */
    public Report run() {
        boolean ci = ciMode();
        String triesProp = System.getProperty("instella.fuzz.tries", "");
        String secondsProp = System.getProperty("instella.fuzz.seconds", "");
        long tries = triesProp.isBlank() ? Long.MAX_VALUE : Long.parseLong(triesProp.trim());
        double seconds = !secondsProp.isBlank() ? Double.parseDouble(secondsProp.trim())
                : triesProp.isBlank() ? 3 : Double.MAX_VALUE;
        long timeout = Long.getLong("instella.fuzz.timeoutMs", ci ? 5000 : 2000);
        // Minimising costs up to 10 s per distinct failure: worth it in a long run, not in every CI build.
        boolean minimise = Boolean.parseBoolean(System.getProperty("instella.fuzz.minimise", String.valueOf(!ci)));
        // A hung case's thread cannot be stopped and spins until the test JVM exits, slowing the tests after it:
        // the CI default stops a target at its first hang and skips inputs of already reported slow paths.
        int maxHangs = Integer.getInteger("instella.fuzz.maxHangs", ci ? 1 : 2);
        int maxInputBytes = Integer.getInteger("instella.fuzz.maxInputBytes", 4 << 20);
        String seedProp = System.getProperty("instella.fuzz.seed", "");
        long seed = seedProp.isBlank() ? defaultSeed
                : seedProp.equals("random") ? new Random().nextLong() : Long.parseLong(seedProp.trim());
        Path findingsDir = Path.of(System.getProperty("instella.fuzz.findings", "target/fuzz-findings")).resolve(name);

        Random random = new Random(seed);
        Map<String, Finding> distinct = new LinkedHashMap<>();
        long start = System.nanoTime();
        long deadline = seconds >= 1e9 ? Long.MAX_VALUE : start + (long) (seconds * 1e9);
        long tried = 0, failures = 0, hangs = 0, skipped = 0;
        boolean skipKnownSlow = Boolean.parseBoolean(System.getProperty("instella.fuzz.skipKnownSlow", "false"));
        ExecutorService worker = newWorker();
        try {
            for (long i = 0; ; i++) {
                boolean seedCase = i < seeds.size();
                if (i == seeds.size() && deadline != Long.MAX_VALUE) {
                    // The budget is for mutated cases: the seeds' first runs include class loading and warm-up.
                    deadline = System.nanoTime() + (long) (seconds * 1e9);
                }
                if (!seedCase && (tried >= tries || System.nanoTime() > deadline || hangs >= maxHangs)) break;
                byte[] input = seedCase ? seeds.get((int) i) : mutator.mutate(seeds.get(random.nextInt(seeds.size())), seeds, random);
                // Stacked list repetitions can make huge inputs, whose slowness would only be their size: redraw.
                while (!seedCase && (input.length > maxInputBytes || skipKnownSlow && knownSlow.test(input))) {
                    if (input.length <= maxInputBytes) skipped++;
                    input = mutator.mutate(seeds.get(random.nextInt(seeds.size())), seeds, random);
                }
                Outcome o = runOne(worker, input, seedCase ? 10 * timeout : timeout);
                if (!seedCase) tried++;
                if (o == null) continue;
                failures++;
                if (o.hang) {
                    hangs++;
                    worker.shutdownNow();
                    worker = newWorker();
                }
                if (!distinct.containsKey(o.signature) && distinct.size() < 100) {
                    long t0 = System.nanoTime();
                    byte[] small = o.hang || !minimise ? input : minimise(input, o.signature, timeout);
                    // Minimising is not fuzzing: it does not use up the time budget.
                    if (deadline != Long.MAX_VALUE) deadline += System.nanoTime() - t0;
                    Path saved = save(findingsDir, o, small);
                    distinct.put(o.signature, new Finding(o.signature, small, o.symptom, o.detail, saved));
                }
            }
        } finally {
            worker.shutdownNow();
        }
        long hundredths = (System.nanoTime() - start) / 10_000_000;
        Report r = new Report(name, tried, failures, hangs, hundredths, distinct, seed,
                skipped == 0 ? "" : skipped + " inputs skipped as known slow (" + knownSlowWhat + ")");
        System.out.println(r.summary());
        return r;
    }

    private record Outcome(String signature, String symptom, String detail, boolean hang) {}

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            // Daemon: a hung decode must not keep the test JVM alive. A deep stack, like the launcher's -Xss8m.
            Thread t = new Thread(null, r, "fuzz-case", 8L << 20);
            t.setDaemon(true);
            return t;
        });
    }

    private Outcome runOne(ExecutorService worker, byte[] input, long timeoutMillis) {
        Future<Throwable> f = worker.submit(() -> {
            try {
                target.run(input);
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        Throwable thrown;
        try {
            thrown = f.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new Outcome("hang: no answer within " + timeoutMillis + " ms", "no answer within " + timeoutMillis
                    + " ms", "", true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            thrown = e.getCause();
        }
        if (thrown == null) return null;
        if (thrown instanceof WrongAcceptance w) {
            return new Outcome("wrong acceptance: " + w.kind, w.getMessage(), "", false);
        }
        String problem = judge.rejectionProblem(thrown);
        if (problem == null) return null;
        // Findings are told apart by kind and root cause (and, for a wrong exception type, where it comes from).
        String kind = problem.contains(" — ") ? problem.substring(0, problem.indexOf(" — ")) : problem;
        String sig = kind.startsWith("message ")
                ? kind + ": " + thrown.getClass().getSimpleName() + " caused by " + root(thrown).getClass().getSimpleName()
                : kind + ": " + thrown.getClass().getName() + " at " + origin(thrown);
        return new Outcome(sig, problem + ": " + thrown, stackOf(thrown), false);
    }

    private static Throwable root(Throwable t) {
        Throwable root = t;
        for (int i = 0; i < 10 && root.getCause() != null && root.getCause() != root; i++) root = root.getCause();
        return root;
    }

    /** Where the exception comes from: the innermost cause's first project frame, or its first frame. */
    private static String origin(Throwable t) {
        Throwable root = root(t);
        StackTraceElement[] st = root.getStackTrace();
        for (StackTraceElement e : st) {
            if (e.getClassName().startsWith("io.instella.") && !e.getClassName().startsWith("io.instella.core.fuzz")) {
                return root.getClass().getSimpleName() + " " + e.getClassName() + "." + e.getMethodName() + ":" + e.getLineNumber();
            }
        }
        return st.length == 0 ? root.getClass().getSimpleName() : root.getClass().getSimpleName() + " " + st[0];
    }

    private static String stackOf(Throwable t) {
        var sw = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(sw));
        String s = sw.toString();
        return s.length() > 20_000 ? s.substring(0, 20_000) + "\n..." : s;
    }

    /**
     * Shrinks a failing input while the same failure persists: removes chunks from half the input down to single
     * bytes (a short ddmin). Bounded, so that a slow target cannot stall the run.
     */
    private byte[] minimise(byte[] input, String signature, long timeout) {
        byte[] best = input;
        long until = System.nanoTime() + 10_000_000_000L;
        int attempts = 0;
        ExecutorService worker = newWorker();
        try {
            for (int chunk = Math.max(1, best.length / 2); chunk >= 1; chunk /= 2) {
                for (int at = 0; at + chunk <= best.length && attempts < 400 && System.nanoTime() < until; ) {
                    byte[] candidate = new byte[best.length - chunk];
                    System.arraycopy(best, 0, candidate, 0, at);
                    System.arraycopy(best, at + chunk, candidate, at, best.length - at - chunk);
                    attempts++;
                    Outcome o = runOne(worker, candidate, timeout);
                    if (o != null && o.hang) {
                        worker.shutdownNow();
                        worker = newWorker();
                    }
                    if (o != null && o.signature.equals(signature)) {
                        best = candidate;
                    } else {
                        at += chunk;
                    }
                }
            }
        } finally {
            worker.shutdownNow();
        }
        return best;
    }

    private static Path save(Path dir, Outcome o, byte[] input) {
        try {
            Files.createDirectories(dir);
            String id = HexFormat.of().formatHex(sha1(o.signature)).substring(0, 12);
            Path file = dir.resolve("finding-" + id);
            Files.write(file, input);
            Files.writeString(dir.resolve("finding-" + id + ".txt"), o.signature + "\n\n" + o.symptom + "\n\n" + o.detail,
                    StandardCharsets.UTF_8);
            return file.toAbsolutePath();
        } catch (IOException e) {
            System.err.println("fuzz: could not save a finding under " + dir + ": " + e.getMessage());
            return null;
        }
    }

    private static byte[] sha1(String s) {
        try {
            return java.security.MessageDigest.getInstance("SHA-1").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String firstLine(String s, int max) {
        String line = s.lines().findFirst().orElse("");
        return line.length() > max ? line.substring(0, max) + "..." : line;
    }

    /**
     * The committed regression corpus of a target: the files under {@code <TestClass>Inputs/<target>/} beside the
     * test class on the class path (src/test/resources/&lt;package&gt;/...), sorted by name; empty if none.
     */
    public static List<Path> corpus(Class<?> testClass, String target) {
        URL url = testClass.getResource(testClass.getSimpleName() + "Inputs/" + target);
        if (url == null) return List.of();
        try (Stream<Path> files = Files.list(Path.of(url.toURI()))) {
            return files.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().endsWith(".txt")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The corpus files' contents. */
    public static List<byte[]> read(List<Path> files) {
        List<byte[]> out = new ArrayList<>();
        for (Path p : files) {
            try {
                out.add(Files.readAllBytes(p));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return out;
    }
}
