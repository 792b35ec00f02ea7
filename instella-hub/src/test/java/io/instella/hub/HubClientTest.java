package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.assertj.core.api.ThrowableAssert;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link HubClient} against a local fake Hub + CDN; never the internet, never the real ~/.cache. */
class HubClientTest {

    private static final RepoId TINY = RepoId.model("test-org/tiny-model");
    private static final String REPO_DIR = "models--test-org--tiny-model";

    @TempDir
    Path tmp;

    private FakeHub hub;
    private final Map<String, String> env = new HashMap<>();
    private final List<HubClient> clients = new ArrayList<>();

    @BeforeEach
    void startHub() throws IOException {
        hub = new FakeHub();
        env.put("HF_HOME", tmp.resolve("hf-home").toString());
        env.put("HF_ENDPOINT", hub.endpoint());
    }

    @AfterEach
    void stopHub() throws IOException {
        clients.forEach(HubClient::close);
        hub.close();
    }

    private HubClient client() {
        return client(b -> { });
    }

    private HubClient client(Consumer<HubClient.Builder> tweak) {
        HubClient.Builder builder = HubClient.builder()
                .environment(Map.copyOf(env))
                .userHome(tmp.resolve("home"))
                .retryDelay(Duration.ofMillis(10));
        tweak.accept(builder);
        HubClient c = builder.build();
        clients.add(c);
        return c;
    }

    private Path cache() {
        return tmp.resolve("hf-home").resolve("hub");
    }

    private Path repoDir() {
        return cache().resolve(REPO_DIR);
    }

    /** Every entry under the cache, without following links: "d dir", "f file size", "l link -> target". */
    private static List<String> layout(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.filter(p -> !p.equals(root)).sorted().map(p -> {
                String rel = root.relativize(p).toString();
                try {
                    if (Files.isSymbolicLink(p)) {
                        return "l " + rel + " -> " + Files.readSymbolicLink(p);
                    }
                    if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                        return "d " + rel;
                    }
                    return "f " + rel + " " + Files.size(p);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }).toList();
        }
    }

    private static HubException hubError(ThrowableAssert.ThrowingCallable call) {
        try {
            call.call();
        } catch (HubException e) {
            return e;
        } catch (Throwable t) {
            throw new AssertionError("expected a HubException, got " + t, t);
        }
        throw new AssertionError("expected a HubException, nothing was thrown");
    }

    static final class Recorder implements DownloadListener {
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void onStart(String file, long totalBytes, long alreadyHave) {
            events.add("start " + file + " " + totalBytes + " " + alreadyHave);
        }

        @Override
        public void onComplete(String file, Path path) {
            events.add("complete " + file);
        }

        @Override
        public void onCacheHit(String file, Path path) {
            events.add("cached " + file);
        }

        @Override
        public void onMessage(String message) {
            events.add("message " + message);
        }
    }

    @Test
    void firstDownloadLaysOutTheCacheAsHuggingfaceHubDoes() throws IOException {
        HubClient client = client();
        Path config = client.downloadFile(TINY, null, "config.json", null);
        Path weights = client.downloadFile(TINY, "main", "model.safetensors", null);
        Path tokenizer = client.downloadFile(TINY, "main", "nested/dir/tokenizer.json", null);

        String cfg = FakeHub.gitBlobSha1(FakeHub.CONFIG);
        String lfs = FakeHub.sha256Hex(FakeHub.WEIGHTS);
        String tok = FakeHub.gitBlobSha1(FakeHub.TOKENIZER);
        String snap = REPO_DIR + "/snapshots/" + FakeHub.MAIN;
        List<String> expected = List.of(
                "d .locks",
                "d .locks/" + REPO_DIR,
                "f .locks/" + REPO_DIR + "/" + cfg + ".lock 0",
                "f .locks/" + REPO_DIR + "/" + lfs + ".lock 0",
                "f .locks/" + REPO_DIR + "/" + tok + ".lock 0",
                "d " + REPO_DIR,
                "d " + REPO_DIR + "/blobs",
                "f " + REPO_DIR + "/blobs/" + cfg + " " + FakeHub.CONFIG.length,
                "f " + REPO_DIR + "/blobs/" + lfs + " " + FakeHub.WEIGHTS.length,
                "f " + REPO_DIR + "/blobs/" + tok + " " + FakeHub.TOKENIZER.length,
                "d " + REPO_DIR + "/refs",
                "f " + REPO_DIR + "/refs/main 40",
                "d " + REPO_DIR + "/snapshots",
                "d " + snap,
                "l " + snap + "/config.json -> ../../blobs/" + cfg,
                "l " + snap + "/model.safetensors -> ../../blobs/" + lfs,
                "d " + snap + "/nested",
                "d " + snap + "/nested/dir",
                "l " + snap + "/nested/dir/tokenizer.json -> ../../../../blobs/" + tok);
        assertThat(layout(cache())).containsExactlyInAnyOrderElementsOf(expected);

        assertThat(Files.readString(repoDir().resolve("refs/main"))).isEqualTo(FakeHub.MAIN); // no newline
        assertThat(config).isEqualTo(cache().resolve(snap + "/config.json"));
        assertThat(Files.readAllBytes(config)).isEqualTo(FakeHub.CONFIG);
        assertThat(Files.readAllBytes(weights)).isEqualTo(FakeHub.WEIGHTS);
        assertThat(Files.readAllBytes(tokenizer)).isEqualTo(FakeHub.TOKENIZER);
        // the HEAD went to the resolve URL, the LFS body came from the CDN it redirected to
        assertThat(hub.log.matching(r -> r.method().equals("HEAD")).getFirst().target())
                .isEqualTo("/test-org/tiny-model/resolve/main/config.json");
        assertThat(hub.log.count("cdn", "GET")).isEqualTo(1);
        assertThat(hub.log.count("hub", "GET")).isEqualTo(2);
    }

    @Test
    void cachedFileNeedsOnlyAHeadForABranchAndNothingForACommit() throws IOException {
        HubClient client = client();
        Path first = client.downloadFile(TINY, "main", "model.safetensors", null);
        hub.log.clear();

        Recorder events = new Recorder();
        Path again = client.downloadFile(TINY, "main", "model.safetensors", events);
        assertThat(again).isEqualTo(first);
        assertThat(hub.log.count("hub", "HEAD")).isEqualTo(1);
        assertThat(hub.log.count("hub", "GET") + hub.log.count("cdn", "GET")).isZero();
        assertThat(events.events).containsExactly("cached model.safetensors");

        hub.log.clear();
        Path byCommit = client.downloadFile(TINY, FakeHub.MAIN, "model.safetensors", null);
        assertThat(byCommit).isEqualTo(first);
        assertThat(hub.log.all()).isEmpty();
    }

    @Test
    void brokenConnectionIsResumedWithARangeRequest() throws IOException {
        hub.cdn.cutAfter = 100_000;
        hub.cdn.cutNext.set(1);
        Recorder events = new Recorder();
        Path weights = client().downloadFile(TINY, "main", "model.safetensors", events);

        List<FakeHub.Request> gets = hub.log.matching(r -> r.server().equals("cdn"));
        assertThat(gets).hasSize(2);
        assertThat(gets.get(0).header("Range")).isNull();
        // bytes in flight when the socket closed may be dropped by the HTTP client: resume from what reached disk
        assertThat(rangeStart(gets.get(1))).isBetween(1L, 100_000L);
        assertThat(Files.readAllBytes(weights)).isEqualTo(FakeHub.WEIGHTS);
        assertThat(FakeHub.sha256Hex(Files.readAllBytes(weights))).isEqualTo(FakeHub.sha256Hex(FakeHub.WEIGHTS));
        assertThat(events.events).anyMatch(e -> e.startsWith("message Download of model.safetensors interrupted"));
        assertThat(blobNames()).containsExactly(FakeHub.sha256Hex(FakeHub.WEIGHTS));
    }

    @Test
    void killedDownloadLeavesOnlyAnIncompleteFileAndTheNextRunResumesIt() throws IOException {
        String sha = FakeHub.sha256Hex(FakeHub.WEIGHTS);
        hub.cdn.cutAfter = 120_000;
        hub.cdn.cutNext.set(1);
        HubException e = hubError(() -> client(b -> b.maxRetries(0)).downloadFile(TINY, "main",
                "model.safetensors", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.NETWORK);
        assertThat(e.getMessage()).contains("model.safetensors").contains("run again to resume");
        assertThat(blobNames()).containsExactly(sha + ".incomplete");
        long partial = Files.size(repoDir().resolve("blobs/" + sha + ".incomplete"));
        assertThat(partial).isBetween(1L, 120_000L);
        assertThat(repoDir().resolve("snapshots/" + FakeHub.MAIN + "/model.safetensors")).doesNotExist();

        hub.log.clear();
        Recorder events = new Recorder();
        Path weights = client().downloadFile(TINY, "main", "model.safetensors", events);
        assertThat(hub.log.matching(r -> r.server().equals("cdn")))
                .singleElement().satisfies(r -> assertThat(r.header("Range")).isEqualTo("bytes=" + partial + "-"));
        assertThat(Files.readAllBytes(weights)).isEqualTo(FakeHub.WEIGHTS);
        assertThat(blobNames()).containsExactly(sha);
        assertThat(events.events).contains("start model.safetensors " + FakeHub.WEIGHTS.length + " " + partial);
    }

    @Test
    void checksumMismatchIsAnIntegrityErrorAndLeavesNoCompleteLookingBlob() throws IOException {
        hub.cdn.corrupt = true;
        HubException e = hubError(() -> client().downloadFile(TINY, "main", "model.safetensors", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.INTEGRITY);
        assertThat(e.getMessage()).contains("model.safetensors").contains("sha256")
                .contains(FakeHub.sha256Hex(FakeHub.WEIGHTS));
        assertThat(blobNames()).isEmpty();
        assertThat(repoDir().resolve("snapshots/" + FakeHub.MAIN + "/model.safetensors"))
                .doesNotExist();

        hub.cdn.corrupt = false;
        Path weights = client().downloadFile(TINY, "main", "model.safetensors", null);
        assertThat(Files.readAllBytes(weights)).isEqualTo(FakeHub.WEIGHTS);
    }

    @Test
    void regularFilesAreCheckedAgainstTheirGitBlobSha1() throws IOException {
        // a stale .incomplete of the right size but wrong bytes must not pass as the config
        String etag = FakeHub.gitBlobSha1(FakeHub.CONFIG);
        Path incomplete = repoDir().resolve("blobs/" + etag + ".incomplete");
        Files.createDirectories(incomplete.getParent());
        Files.write(incomplete, new byte[FakeHub.CONFIG.length]);
        HubException e = hubError(() -> client().downloadFile(TINY, "main", "config.json", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.INTEGRITY);
        assertThat(e.getMessage()).contains("git blob sha1");
        assertThat(blobNames()).isEmpty();
    }

    @Test
    void privateRepoNeedsATokenFromHfTokenOrTheTokenFile() throws IOException {
        RepoId priv = RepoId.parse("test-org/private-model");
        HubException e = hubError(() -> client().downloadFile(priv, null, "weights.bin", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.AUTH);
        assertThat(e.getMessage()).contains("401").contains("HF_TOKEN").contains("test-org/private-model");

        env.put("HF_TOKEN", FakeHub.TOKEN);
        Path weights = client().downloadFile(priv, null, "weights.bin", null);
        assertThat(Files.readAllBytes(weights)).isEqualTo(FakeHub.PRIVATE_WEIGHTS);

        env.remove("HF_TOKEN");
        Files.writeString(tmp.resolve("hf-home/token"), "  " + FakeHub.TOKEN + "\n");
        hub.log.clear();
        Path config = client().downloadFile(priv, null, "config.json", null);
        assertThat(Files.readAllBytes(config)).isEqualTo(FakeHub.CONFIG);
        assertThat(hub.log.all()).allSatisfy(r ->
                assertThat(r.header("Authorization")).isEqualTo("Bearer " + FakeHub.TOKEN));
    }

    @Test
    void tokenIsNotSentToTheCdnHost() throws IOException {
        env.put("HF_TOKEN", FakeHub.TOKEN);
        client().downloadFile(RepoId.model("test-org/private-model"), "main", "weights.bin", null);
        List<FakeHub.Request> hubRequests = hub.log.matching(r -> r.server().equals("hub"));
        List<FakeHub.Request> cdnRequests = hub.log.matching(r -> r.server().equals("cdn"));
        assertThat(hubRequests).isNotEmpty().allSatisfy(r ->
                assertThat(r.header("Authorization")).isEqualTo("Bearer " + FakeHub.TOKEN));
        assertThat(cdnRequests).hasSize(1).allSatisfy(r -> assertThat(r.header("Authorization")).isNull());
    }

    @Test
    void gatedRepoSaysToAcceptTheConditions() {
        HubException e = hubError(() -> client().downloadFile(RepoId.model("test-org/gated-model"), null,
                "config.json", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.AUTH);
        assertThat(e.getMessage()).contains("gated").contains(hub.endpoint() + "/test-org/gated-model")
                .contains("HF_TOKEN");
    }

    @Test
    void offlineModeServesTheCacheAndExplainsWhatIsMissing() throws IOException {
        Path config = client().downloadFile(TINY, "main", "config.json", null);
        hub.log.clear();
        env.put("HF_HUB_OFFLINE", "1");
        HubClient offline = client();
        assertThat(offline.isOffline()).isTrue();

        assertThat(offline.downloadFile(TINY, "main", "config.json", null)).isEqualTo(config);
        assertThat(offline.snapshot(TINY, "main", List.of("*.json"), null))
                .isEqualTo(repoDir().resolve("snapshots/" + FakeHub.MAIN));

        HubException notCached = hubError(() -> offline.downloadFile(TINY, "main", "model.safetensors", null));
        assertThat(notCached.kind()).isEqualTo(HubException.Kind.OFFLINE);
        assertThat(notCached.getMessage()).contains("HF_HUB_OFFLINE").contains("model.safetensors")
                .contains(cache().toString());
        HubException noRef = hubError(() -> offline.downloadFile(TINY, "dev", "config.json", null));
        assertThat(noRef.kind()).isEqualTo(HubException.Kind.OFFLINE);
        assertThat(noRef.getMessage()).contains("never resolved");
        HubException noSnapshot = hubError(() -> offline.snapshot(RepoId.model("test-org/other"), null, null, null));
        assertThat(noSnapshot.kind()).isEqualTo(HubException.Kind.OFFLINE);
        assertThat(hub.log.all()).isEmpty();
    }

    @Test
    void missingFileIsNotFoundAndRecordedUnderNoExist() throws IOException {
        HubException e = hubError(() -> client().downloadFile(TINY, "main", "missing/file.txt", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.NOT_FOUND);
        assertThat(e.getMessage()).contains("'missing/file.txt'").contains("test-org/tiny-model")
                .contains("'main'").contains("Check the file name");
        Path marker = repoDir().resolve(".no_exist/" + FakeHub.MAIN + "/missing/file.txt");
        assertThat(marker).isRegularFile();
        assertThat(Files.size(marker)).isZero();
        assertThat(Files.readString(repoDir().resolve("refs/main"))).isEqualTo(FakeHub.MAIN);

        env.put("HF_HUB_OFFLINE", "1");
        HubException offline = hubError(() -> client().downloadFile(TINY, "main", "missing/file.txt", null));
        assertThat(offline.kind()).isEqualTo(HubException.Kind.NOT_FOUND);
    }

    @Test
    void missingRepoAndRevisionAreNamedInTheError() {
        HubException repo = hubError(() -> client().downloadFile(RepoId.parse("test-org/nope"), null,
                "config.json", null));
        assertThat(repo.kind()).isEqualTo(HubException.Kind.NOT_FOUND);
        assertThat(repo.getMessage()).contains("Repository model test-org/nope not found").contains("Check the id");

        HubException rev = hubError(() -> client().downloadFile(TINY, "nope", "config.json", null));
        assertThat(rev.kind()).isEqualTo(HubException.Kind.NOT_FOUND);
        assertThat(rev.getMessage()).contains("Revision 'nope' not found");

        HubException listing = hubError(() -> client().snapshot(RepoId.parse("test-org/nope@main"), null, null,
                null));
        assertThat(listing.kind()).isEqualTo(HubException.Kind.NOT_FOUND);
        assertThat(listing.getMessage()).contains("test-org/nope");
    }

    @Test
    void branchAndTagResolveToACommitRecordedInRefs() throws IOException {
        HubClient client = client();
        Path dev = client.downloadFile(RepoId.parse("test-org/tiny-model@dev"), null, "config.json", null);
        assertThat(dev).isEqualTo(repoDir().resolve("snapshots/" + FakeHub.DEV + "/config.json"));
        assertThat(Files.readAllBytes(dev)).isEqualTo(FakeHub.CONFIG_DEV);
        assertThat(Files.readString(repoDir().resolve("refs/dev"))).isEqualTo(FakeHub.DEV);

        Path tagged = client.downloadFile(TINY, "v1.0", "config.json", null);
        assertThat(tagged).isEqualTo(repoDir().resolve("snapshots/" + FakeHub.MAIN + "/config.json"));
        assertThat(Files.readString(repoDir().resolve("refs/v1.0"))).isEqualTo(FakeHub.MAIN);
        assertThat(client.cachedSnapshot(TINY, "v1.0")).contains(repoDir().resolve("snapshots/" + FakeHub.MAIN));
        assertThat(client.cachedSnapshot(TINY, "dev")).contains(repoDir().resolve("snapshots/" + FakeHub.DEV));
        assertThat(client.cachedSnapshot(TINY, "main")).isEmpty();
        // the LFS blob is shared between the two commits
        client.downloadFile(TINY, "dev", "model.safetensors", null);
        hub.log.clear();
        client.downloadFile(TINY, "main", "model.safetensors", null);
        assertThat(hub.log.count("cdn", "GET")).isZero();
    }

    @Test
    void snapshotDownloadsTheFilesMatchingTheAllowPatterns() throws IOException {
        HubClient client = client();
        Path snap = client.snapshot(TINY, null, List.of("*.json"), null);
        assertThat(snap).isEqualTo(repoDir().resolve("snapshots/" + FakeHub.MAIN));
        assertThat(hub.log.matching(r -> r.method().equals("GET") && r.target().startsWith("/api/")))
                .singleElement().satisfies(r -> assertThat(r.target())
                        .isEqualTo("/api/models/test-org/tiny-model/revision/main"));
        assertThat(snap.resolve("config.json")).hasBinaryContent(FakeHub.CONFIG);
        assertThat(snap.resolve("nested/dir/tokenizer.json")).hasBinaryContent(FakeHub.TOKENIZER);
        assertThat(snap.resolve("model.safetensors")).doesNotExist();
        assertThat(snap.resolve("README.md")).doesNotExist();
        assertThat(Files.readString(repoDir().resolve("refs/main"))).isEqualTo(FakeHub.MAIN);

        hub.log.clear();
        client.snapshot(TINY, "main", List.of("nested/"), null);
        // files already linked under the commit cost no request besides the listing
        assertThat(hub.log.all()).hasSize(1);

        Path all = client.snapshot(TINY, "main", null, null);
        assertThat(all.resolve("model.safetensors")).hasBinaryContent(FakeHub.WEIGHTS);
        assertThat(all.resolve("README.md")).hasBinaryContent(FakeHub.README);

        HubException none = hubError(() -> client.snapshot(TINY, "main", List.of("*.gguf"), null));
        assertThat(none.kind()).isEqualTo(HubException.Kind.NOT_FOUND);
        assertThat(none.getMessage()).contains("*.gguf").contains("model.safetensors");
    }

    @Test
    void datasetsUseTheirOwnPrefixes() throws IOException {
        RepoId data = RepoId.parse("datasets/test-org/tiny-data");
        HubClient client = client();
        Path images = client.downloadFile(data, null, "data/images.bin", null);
        String sha = FakeHub.sha256Hex(FakeHub.IMAGES);
        Path expected = cache().resolve("datasets--test-org--tiny-data/snapshots/" + FakeHub.MAIN
                + "/data/images.bin");
        assertThat(images).isEqualTo(expected);
        assertThat(Files.readSymbolicLink(images).toString()).isEqualTo("../../../blobs/" + sha);
        assertThat(images).hasBinaryContent(FakeHub.IMAGES);
        assertThat(hub.log.matching(r -> r.method().equals("HEAD")).getFirst().target())
                .isEqualTo("/datasets/test-org/tiny-data/resolve/main/data/images.bin");

        Path snap = client.snapshot(data, null, List.of("data/*.jsonl"), null);
        assertThat(snap.resolve("data/train.jsonl")).hasBinaryContent(FakeHub.TRAIN);
        assertThat(hub.log.matching(r -> r.target().startsWith("/api/")).getFirst().target())
                .isEqualTo("/api/datasets/test-org/tiny-data/revision/main");
    }

    @Test
    void renamedRepoFollowsTheSameHostRedirectWithTheToken() throws IOException {
        env.put("HF_TOKEN", FakeHub.TOKEN);
        Path config = client().downloadFile(RepoId.model("old-org/tiny-model"), null, "config.json", null);
        assertThat(config).isEqualTo(cache().resolve("models--old-org--tiny-model/snapshots/" + FakeHub.MAIN
                + "/config.json"));
        assertThat(config).hasBinaryContent(FakeHub.CONFIG);
        List<FakeHub.Request> heads = hub.log.matching(r -> r.method().equals("HEAD"));
        assertThat(heads).extracting(FakeHub.Request::target).containsExactly(
                "/old-org/tiny-model/resolve/main/config.json", "/test-org/tiny-model/resolve/main/config.json");
        assertThat(heads).allSatisfy(r -> assertThat(r.header("Authorization")).isNotNull());
    }

    @Test
    void unreachableHubFailsFastWithAHintUnlessTheFileIsCached() throws IOException {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        env.put("HF_ENDPOINT", "http://127.0.0.1:" + deadPort);
        long start = System.nanoTime();
        HubException e = hubError(() -> client().downloadFile(TINY, "main", "config.json", null));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(e.kind()).isEqualTo(HubException.Kind.NETWORK);
        assertThat(e.getMessage()).contains("Cannot connect to 127.0.0.1:" + deadPort).contains("HF_HUB_OFFLINE=1");

        env.put("HF_ENDPOINT", hub.endpoint());
        Path config = client().downloadFile(TINY, "main", "config.json", null);
        env.put("HF_ENDPOINT", "http://127.0.0.1:" + deadPort);
        Recorder events = new Recorder();
        assertThat(client().downloadFile(TINY, "main", "config.json", events)).isEqualTo(config);
        assertThat(events.events).anyMatch(m -> m.startsWith("message Could not check test-org/tiny-model@main"));
        assertThat(client().snapshot(TINY, "main", null, null)).isEqualTo(config.getParent());
    }

    @Test
    void silentServerTimesOut() throws IOException {
        try (ServerSocket silent = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            env.put("HF_ENDPOINT", "http://127.0.0.1:" + silent.getLocalPort());
            long start = System.nanoTime();
            HubException e = hubError(() -> client(b -> b.metadataTimeout(Duration.ofMillis(300)))
                    .downloadFile(TINY, "main", "config.json", null));
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            assertThat(e.kind()).isEqualTo(HubException.Kind.NETWORK);
            assertThat(e.getMessage()).contains("No answer from 127.0.0.1").contains("HF_HUB_OFFLINE=1");
        }
    }

    @Test
    void stalledTransferIsAbandonedAndResumable() throws IOException {
        hub.cdn.pauseMillis = 3_000;
        HubException e = hubError(() -> client(b -> b.stallTimeout(Duration.ofMillis(300)).maxRetries(0))
                .downloadFile(TINY, "main", "model.safetensors", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.NETWORK);
        assertThat(e.getMessage()).contains("no data for");
        hub.cdn.pauseMillis = 0;
        Path weights = client().downloadFile(TINY, "main", "model.safetensors", null);
        assertThat(weights).hasBinaryContent(FakeHub.WEIGHTS);
        assertThat(rangeStart(hub.log.matching(r -> r.server().equals("cdn")).getLast()))
                .isBetween(1L, (long) FakeHub.WEIGHTS.length / 2);
    }

    @Test
    void unusableCacheLocationIsAClearIoError() throws IOException {
        Path blocker = tmp.resolve("not-a-dir");
        Files.writeString(blocker, "x");
        env.put("HF_HUB_CACHE", blocker.toString());
        HubException e = hubError(() -> client().downloadFile(TINY, "main", "config.json", null));
        assertThat(e.kind()).isEqualTo(HubException.Kind.IO);
        assertThat(e.getMessage()).contains("HF_HUB_CACHE").contains(blocker.toString());
    }

    @Test
    void concurrentDownloadsOfOneBlobDownloadItOnce() throws Exception {
        hub.cdn.pauseMillis = 400;
        HubClient a = client();
        HubClient b = client();
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Future<Path> fa = pool.submit(() -> a.downloadFile(TINY, "main", "model.safetensors", null));
            Future<Path> fb = pool.submit(() -> b.downloadFile(TINY, "main", "model.safetensors", null));
            assertThat(fa.get()).hasBinaryContent(FakeHub.WEIGHTS);
            assertThat(fb.get()).isEqualTo(fa.get());
        }
        assertThat(hub.log.count("cdn", "GET")).isEqualTo(1);
        assertThat(blobNames()).containsExactly(FakeHub.sha256Hex(FakeHub.WEIGHTS));
    }

    @Test
    void cachedFileLooksUpWithoutNetwork() throws IOException {
        HubClient client = client();
        assertThat(client.cachedFile(TINY, "main", "config.json")).isEmpty();
        Path config = client.downloadFile(TINY, "main", "config.json", null);
        hub.log.clear();
        assertThat(client.cachedFile(TINY, null, "config.json")).contains(config);
        assertThat(client.cachedFile(TINY, FakeHub.MAIN, "config.json")).contains(config);
        assertThat(hub.log.all()).isEmpty();
    }

    @Test
    void badPathsAreRejectedBeforeAnyRequest() {
        HubClient client = client();
        assertThatThrownBy(() -> client.downloadFile(TINY, "main", "../escape", null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'..'");
        assertThatThrownBy(() -> client.downloadFile(TINY, "main", "/abs", null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> client.downloadFile(TINY, "../main", "config.json", null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("revision");
        assertThat(hub.log.all()).isEmpty();
    }

    /** Start of a "bytes=N-" Range header. */
    private static long rangeStart(FakeHub.Request r) {
        String range = r.header("Range");
        assertThat(range).matches("bytes=\\d+-");
        return Long.parseLong(range.substring(6, range.length() - 1));
    }

    private List<String> blobNames() throws IOException {
        Path blobs = repoDir().resolve("blobs");
        if (!Files.isDirectory(blobs)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(blobs)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
