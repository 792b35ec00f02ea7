package io.instella.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads files of Hugging Face Hub repositories into the shared Hugging Face cache, reproducing
 * {@code huggingface_hub}'s {@code hf_hub_download} and {@code snapshot_download}: same cache root, same
 * {@code blobs/ snapshots/ refs/ .no_exist/} layout, same lock files, so Python and this client reuse each other's
 * downloads. See the module README for the layout and the environment variables.
 *
 * <p>Downloads resume from {@code blobs/<etag>.incomplete} with an HTTP Range request, are checked against the size
 * and the checksum in the ETag (sha256 for LFS files, git blob sha1 otherwise), and only then renamed into place.
 * Instances are thread-safe.
 */
public final class HubClient implements AutoCloseable {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern GIT_SHA1 = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final int MAX_REDIRECTS = 10;
    private static final int BUFFER_SIZE = 1 << 20;
    /**
     * Downloaded bytes are written in blocks that end at multiples of this size. Why: Linux (6.x, ext4 and others
     * with large folios) caches what one write covers in folios as large as the write allows; whole 2 MB-aligned
     * ranges become 2 MB folios, which the model loader's mapping then uses with 2 MB page entries (faster weight
     * streaming). Network-sized writes would leave a freshly downloaded file in small folios.
     */
    static final int WRITE_BLOCK = 8 << 20;
    private static final Duration LOCK_NOTICE_AFTER = Duration.ofSeconds(2);

    private final Path cacheDir;
    private final String endpoint;
    private final String token;
    private final Path tokenFile;
    private final boolean offline;
    private final Duration metadataTimeout;
    private final Duration stallTimeout;
    private final int maxRetries;
    private final Duration retryDelay;
    private final String userAgent;
    private final HttpClient http;
    private final ObjectMapper json = new ObjectMapper();

    private HubClient(Builder b, HubEnvironment env) {
        this.cacheDir = (b.cacheDir != null ? b.cacheDir : env.hubCache()).toAbsolutePath().normalize();
        this.endpoint = b.endpoint != null ? stripSlash(b.endpoint) : env.endpoint();
        this.tokenFile = env.tokenFile();
        this.token = b.tokenSet ? HubEnvironment.cleanToken(b.token) : env.token();
        this.offline = b.offline != null ? b.offline : env.offline();
        this.metadataTimeout = b.metadataTimeout != null ? b.metadataTimeout
                : env.seconds("HF_HUB_ETAG_TIMEOUT", Duration.ofSeconds(10));
        this.stallTimeout = b.stallTimeout != null ? b.stallTimeout
                : env.seconds("HF_HUB_DOWNLOAD_TIMEOUT", Duration.ofSeconds(10));
        this.maxRetries = b.maxRetries;
        this.retryDelay = b.retryDelay;
        this.userAgent = b.userAgent != null ? b.userAgent
                : "instella-java/0.1; hf_hub-compatible; java/" + Runtime.version().feature();
        URI endpointUri = URI.create(endpoint);
        if (endpointUri.getScheme() == null || endpointUri.getHost() == null) {
            throw new IllegalArgumentException("HF_ENDPOINT='" + endpoint
                    + "' is not an absolute URL; expected e.g. https://huggingface.co.");
        }
        this.http = HttpClient.newBuilder()
                .connectTimeout(b.connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER) // redirects are followed by hand, see sendFollowing
                .version(HttpClient.Version.HTTP_1_1)
                .proxy(EnvProxySelector.from(env))
                .build();
    }

    /** A client configured from the process environment (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, ...). */
    public static HubClient fromEnvironment() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The hub cache root, e.g. {@code ~/.cache/huggingface/hub}. */
    public Path cacheDir() {
        return cacheDir;
    }

    public String endpoint() {
        return endpoint;
    }

    /** Whether HF_HUB_OFFLINE (or {@link Builder#offline}) restricts this client to the cache. */
    public boolean isOffline() {
        return offline;
    }

    /** Whether a token will be sent to the Hub. */
    public boolean hasToken() {
        return token != null;
    }

    @Override
    public void close() {
        http.close();
    }

    /**
     * Downloads one file (or finds it in the cache) and returns its path inside
     * {@code snapshots/<commit>/} (a symlink into {@code blobs/}).
     *
     * @param revision branch, tag or commit; null means {@code repo.revision()}, else {@code main}
     * @param path     file inside the repository, with '/' separators
     * @param listener progress receiver; null for none
     */
    public Path downloadFile(RepoId repo, String revision, String path, DownloadListener listener)
            throws HubException {
        Objects.requireNonNull(repo, "repo");
        DownloadListener out = listener != null ? listener : DownloadListener.NONE;
        String rev = effectiveRevision(repo, revision);
        RepoCache.checkRepoPath(path);
        RepoCache cache = new RepoCache(cacheDir, repo);

        // A full commit hash whose file is already linked needs no network at all.
        if (RepoCache.isCommitHash(rev)) {
            Path pointer = cache.pointer(rev, path);
            if (Files.exists(pointer)) {
                out.onCacheHit(path, pointer);
                return pointer;
            }
        }
        if (offline) {
            return fromCacheOffline(cache, repo, rev, path, out);
        }

        HubErrors.Context ctx = context(repo, rev, path);
        FileMetadata meta;
        try {
            meta = fileMetadata(repo, rev, path, cache, ctx);
        } catch (HubException e) {
            if (e.kind() == HubException.Kind.NOT_FOUND) {
                throw e;
            }
            // As huggingface_hub: when the Hub cannot be asked (network, auth, server error), use a cached copy.
            Optional<Path> cached = cache.cachedFile(rev, path);
            if (cached.isPresent()) {
                out.onMessage("Could not check " + repo.id() + "@" + rev + " on the Hub (" + firstSentence(e)
                        + "); using the cached " + path + ".");
                out.onCacheHit(path, cached.get());
                return cached.get();
            }
            throw e;
        }

        cache.writeRef(rev, meta.commit());
        Path pointer = cache.pointer(meta.commit(), path);
        if (Files.exists(pointer)) {
            out.onCacheHit(path, pointer);
            return pointer;
        }
        Path blob = cache.blob(meta.etag());
        if (Files.exists(blob)) {
            cache.link(meta.etag(), pointer);
            out.onCacheHit(path, pointer);
            return pointer;
        }
        Path lockFile = cache.lockFile(meta.etag());
        try (BlobLock ignored = BlobLock.acquire(lockFile, LOCK_NOTICE_AFTER, out::onMessage)) {
            if (!Files.exists(blob)) {
                fetchBlob(meta, cache, path, ctx, out);
            }
            if (!Files.exists(pointer)) {
                cache.link(meta.etag(), pointer);
            }
        } catch (IOException e) {
            throw HubErrors.io("lock " + lockFile, lockFile, e);
        }
        out.onComplete(path, pointer);
        return pointer;
    }

    /**
     * Downloads every file of a revision matching {@code allowPatterns} (fnmatch globs; null for all files) and
     * returns {@code snapshots/<commit>/}. Offline, or when the Hub cannot be reached, the cached snapshot folder of
     * that revision is returned if there is one (its completeness cannot be checked then, as in huggingface_hub).
     */
    public Path snapshot(RepoId repo, String revision, List<String> allowPatterns, DownloadListener listener)
            throws HubException {
        Objects.requireNonNull(repo, "repo");
        DownloadListener out = listener != null ? listener : DownloadListener.NONE;
        String rev = effectiveRevision(repo, revision);
        RepoCache cache = new RepoCache(cacheDir, repo);
        if (offline) {
            return cachedSnapshot(repo, rev).orElseThrow(() -> new HubException(HubException.Kind.OFFLINE,
                    "HF_HUB_OFFLINE is set and no snapshot of " + repo.id() + " at revision '" + rev
                            + "' is in the cache (" + cacheDir + "). Run once without HF_HUB_OFFLINE to download"
                            + " it, or point HF_HUB_CACHE / HF_HOME at the cache that has it."));
        }
        HubErrors.Context ctx = context(repo, rev, null);
        RepoListing listing;
        try {
            listing = listFiles(repo, rev, ctx);
        } catch (HubException e) {
            if (e.kind() == HubException.Kind.NOT_FOUND) {
                throw e;
            }
            Optional<Path> cached = cachedSnapshot(repo, rev);
            if (cached.isPresent()) {
                out.onMessage("Could not list " + repo.id() + "@" + rev + " on the Hub (" + firstSentence(e)
                        + "); using the cached snapshot " + cached.get() + ".");
                return cached.get();
            }
            throw e;
        }
        List<String> wanted = Globs.filter(listing.files(), allowPatterns);
        if (wanted.isEmpty()) {
            throw new HubException(HubException.Kind.NOT_FOUND, "No file of " + repo.id() + " at revision '" + rev
                    + "' matches " + allowPatterns + ". The repository has: " + preview(listing.files())
                    + ". Check the patterns (fnmatch globs; '*' also matches '/').");
        }
        cache.writeRef(rev, listing.commit());
        for (String file : wanted) {
            // The commit hash, as snapshot_download passes it: files already linked cost no request.
            downloadFile(repo, listing.commit(), file, out);
        }
        return cache.snapshotDir(listing.commit());
    }

    /** The cached {@code snapshots/<commit>/} folder of a revision (branch/tag via refs/), without any network. */
    public Optional<Path> cachedSnapshot(RepoId repo, String revision) {
        Objects.requireNonNull(repo, "repo");
        String rev = effectiveRevision(repo, revision);
        RepoCache cache = new RepoCache(cacheDir, repo);
        return cache.resolveCommit(rev).map(cache::snapshotDir).filter(Files::isDirectory);
    }

    /** The cached file of a revision, as huggingface_hub's try_to_load_from_cache, without any network. */
    public Optional<Path> cachedFile(RepoId repo, String revision, String path) {
        Objects.requireNonNull(repo, "repo");
        RepoCache.checkRepoPath(path);
        return new RepoCache(cacheDir, repo).cachedFile(effectiveRevision(repo, revision), path);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Offline

    private Path fromCacheOffline(RepoCache cache, RepoId repo, String rev, String path, DownloadListener out) {
        Optional<Path> cached = cache.cachedFile(rev, path);
        if (cached.isPresent()) {
            out.onCacheHit(path, cached.get());
            return cached.get();
        }
        if (cache.knownMissing(rev, path)) {
            throw new HubException(HubException.Kind.NOT_FOUND, "File '" + path + "' does not exist in "
                    + repo.id() + " at revision '" + rev + "' (recorded in the cache when it was last checked).");
        }
        String why = cache.resolveCommit(rev).isPresent() ? ""
                : " (the revision '" + rev + "' was never resolved in this cache)";
        throw new HubException(HubException.Kind.OFFLINE, "HF_HUB_OFFLINE is set and '" + path + "' of "
                + repo.id() + " at revision '" + rev + "' is not in the cache " + cacheDir + why
                + ". Run once without HF_HUB_OFFLINE to download it, or point HF_HUB_CACHE / HF_HOME at the cache"
                + " that has it.");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Metadata: HEAD {endpoint}/{repo}/resolve/{revision}/{path}

    /** What a HEAD on the resolve URL says about a file (get_hf_file_metadata). */
    record FileMetadata(String commit, String etag, long size, String location) {
    }

    private FileMetadata fileMetadata(RepoId repo, String rev, String path, RepoCache cache,
            HubErrors.Context ctx) {
        String url = endpoint + "/" + repo.urlPath() + "/resolve/" + quote(rev, "") + "/" + quote(path, "/");
        String current = url;
        for (int hop = 0; ; hop++) {
            HttpRequest request = request(current, metadataTimeout)
                    .method("HEAD", HttpRequest.BodyPublishers.noBody())
                    .build();
            HttpResponse<Void> response = send(request, HttpResponse.BodyHandlers.discarding(), current);
            int status = response.statusCode();
            HttpHeaders headers = response.headers();
            Optional<String> location = headers.firstValue("Location");
            if (status >= 300 && status < 400 && location.isPresent() && isRelative(location.get())) {
                // Follow only same-site redirects (renamed repositories), never the CDN, as huggingface_hub does.
                if (hop >= MAX_REDIRECTS) {
                    throw new HubException(HubException.Kind.NETWORK, "Too many redirects resolving " + url + ".");
                }
                current = URI.create(current).resolve(URI.create(location.get()).getRawPath()).toString();
                continue;
            }
            if (status >= 400) {
                if (status == 404 && "EntryNotFound".equals(headers.firstValue("X-Error-Code").orElse(null))) {
                    headers.firstValue("X-Repo-Commit").ifPresent(commit -> rememberMissing(cache, rev, commit, path));
                }
                throw HubErrors.http(status, headers, current, ctx);
            }
            String commit = headers.firstValue("X-Repo-Commit").orElse(null);
            if (commit == null) {
                throw new HubException(HubException.Kind.NETWORK, "The server at " + HubErrors.hostOf(current)
                        + " answered without an X-Repo-Commit header, so it does not look like the Hugging Face Hub."
                        + " Check HF_ENDPOINT (now " + endpoint + "), proxy and firewall settings. "
                        + HubErrors.OFFLINE_HINT);
            }
            String etag = normalizeEtag(headers.firstValue("X-Linked-Etag").orElse(headers.firstValue("ETag")
                    .orElse(null)));
            if (etag == null || etag.isEmpty() || !safeFileName(etag)) {
                throw new HubException(HubException.Kind.NETWORK, "The Hub sent no usable ETag for " + ctx.target()
                        + " (got " + etag + "), so the download cannot be verified or cached.");
            }
            if (!RepoCache.isCommitHash(commit)) {
                throw new HubException(HubException.Kind.NETWORK, "The Hub sent an invalid commit hash '" + commit
                        + "' for " + ctx.target() + ".");
            }
            OptionalLong size = parseLong(headers.firstValue("X-Linked-Size").orElse(null));
            if (size.isEmpty()) {
                size = parseLong(headers.firstValue("Content-Length").orElse(null));
            }
            if (size.isEmpty()) {
                throw new HubException(HubException.Kind.NETWORK, "The Hub sent no file size for " + ctx.target()
                        + ".");
            }
            String answeredBy = current;
            String target = location.map(l -> URI.create(answeredBy).resolve(l).toString()).orElse(answeredBy);
            return new FileMetadata(commit, etag, size.getAsLong(), target);
        }
    }

    private static void rememberMissing(RepoCache cache, String rev, String commit, String path) {
        if (!RepoCache.isCommitHash(commit)) {
            return;
        }
        try {
            cache.markMissing(commit, path);
            cache.writeRef(rev, commit);
        } catch (HubException ignored) {
            // a read-only cache: the 404 itself is what the caller needs to hear about
        }
    }

    /** huggingface_hub's _normalize_etag: {@code etag.lstrip("W/").strip('"')}. */
    static String normalizeEtag(String etag) {
        if (etag == null) {
            return null;
        }
        int start = 0;
        while (start < etag.length() && (etag.charAt(start) == 'W' || etag.charAt(start) == '/')) {
            start++;
        }
        String s = etag.substring(start);
        int from = 0;
        int to = s.length();
        while (from < to && s.charAt(from) == '"') {
            from++;
        }
        while (to > from && s.charAt(to - 1) == '"') {
            to--;
        }
        return s.substring(from, to);
    }

    private static boolean safeFileName(String name) {
        if (name.equals(".") || name.equals("..") || name.length() > 200) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) {
                return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Listing: GET {endpoint}/api/{models|datasets}/{repo}/revision/{revision}

    record RepoListing(String commit, List<String> files) {
    }

    private RepoListing listFiles(RepoId repo, String rev, HubErrors.Context ctx) {
        String url = endpoint + "/api/" + repo.type().plural() + "/" + repo.id() + "/revision/" + quote(rev, "");
        Fetched<byte[]> fetched = sendFollowing(url, metadataTimeout, Map.of(),
                HttpResponse.BodyHandlers.ofByteArray(), ctx);
        HttpResponse<byte[]> response = fetched.response();
        if (response.statusCode() >= 300) {
            throw HubErrors.http(response.statusCode(), response.headers(), fetched.url(), ctx);
        }
        try {
            JsonNode root = json.readTree(response.body());
            String sha = root.path("sha").asText(null);
            JsonNode siblings = root.path("siblings");
            if (sha == null || !RepoCache.isCommitHash(sha) || !siblings.isArray()) {
                throw new HubException(HubException.Kind.NETWORK, "Unexpected answer from " + url
                        + ": no commit 'sha' or 'siblings' list. Check HF_ENDPOINT (now " + endpoint + ").");
            }
            List<String> files = new ArrayList<>();
            for (JsonNode sibling : siblings) {
                String name = sibling.path("rfilename").asText(null);
                if (name != null) {
                    files.add(name);
                }
            }
            return new RepoListing(sha, files);
        } catch (IOException e) {
            throw new HubException(HubException.Kind.NETWORK, "Could not parse the file list from " + url + ": "
                    + e.getMessage() + ". Check HF_ENDPOINT (now " + endpoint + ").", e);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Blob download: GET with resume, verification, atomic rename

    /** Thrown by one GET attempt that broke off mid-way; the caller resumes from what is on disk. */
    private static final class TransferInterrupted extends Exception {
        final boolean madeProgress;

        TransferInterrupted(String message, Throwable cause, boolean madeProgress) {
            super(message, cause);
            this.madeProgress = madeProgress;
        }
    }

    private void fetchBlob(FileMetadata meta, RepoCache cache, String path, HubErrors.Context ctx,
            DownloadListener out) {
        Path blob = cache.blob(meta.etag());
        Path incomplete = cache.incomplete(meta.etag());
        try {
            Files.createDirectories(blob.getParent());
        } catch (IOException e) {
            throw HubErrors.io("create the cache folder " + blob.getParent(), blob.getParent(), e);
        }
        Hasher hasher = Hasher.forEtag(meta.etag(), meta.size());
        long have = sizeOrZero(incomplete);
        if (have > meta.size()) {
            deleteQuietly(incomplete);
            have = 0;
        }
        warnIfLowOnSpace(blob.getParent(), meta.size() - have, out);
        out.onStart(path, meta.size(), have);
        if (have > 0) {
            out.onMessage("Resuming " + path + " from " + ConsoleProgressBar.bytes(have) + " of "
                    + ConsoleProgressBar.bytes(meta.size()) + ".");
        }
        int failures = 0;
        while (true) {
            try {
                transfer(meta, incomplete, hasher, path, ctx, out);
                break;
            } catch (TransferInterrupted e) {
                failures = e.madeProgress ? 1 : failures + 1;
                long now = sizeOrZero(incomplete);
                if (failures > maxRetries) {
                    throw new HubException(HubException.Kind.NETWORK, "Download of " + path + " from "
                            + HubErrors.hostOf(meta.location()) + " was interrupted at "
                            + ConsoleProgressBar.bytes(now) + " of " + ConsoleProgressBar.bytes(meta.size()) + " ("
                            + e.getMessage() + "). The partial file " + incomplete.getFileName()
                            + " is kept: run again to resume. " + HubErrors.OFFLINE_HINT, e.getCause());
                }
                out.onMessage("Download of " + path + " interrupted at " + ConsoleProgressBar.bytes(now) + " ("
                        + e.getMessage() + "); resuming (retry " + failures + " of " + maxRetries + ").");
                sleep(retryDelay);
            }
        }
        verify(meta, incomplete, hasher, path);
        try {
            RepoCache.moveReplacing(incomplete, blob);
        } catch (IOException e) {
            throw HubErrors.io("move the finished download to " + blob, blob, e);
        }
    }

    /** One GET (following redirects) that appends to {@code incomplete} from its current size. */
    private void transfer(FileMetadata meta, Path incomplete, Hasher hasher, String path, HubErrors.Context ctx,
            DownloadListener out) throws TransferInterrupted {
        long have = sizeOrZero(incomplete);
        if (have == meta.size() && Files.exists(incomplete)) {
            hasher.catchUp(incomplete, have);
            return;
        }
        Map<String, String> extra = have > 0 ? Map.of("Range", "bytes=" + have + "-") : Map.of();
        Fetched<InputStream> fetched;
        try {
            fetched = sendFollowing(meta.location(), stallTimeout, extra, HttpResponse.BodyHandlers.ofInputStream(),
                    ctx);
        } catch (HubException e) {
            if (e.kind() == HubException.Kind.NETWORK && e.getCause() instanceof IOException io) {
                throw new TransferInterrupted(firstSentence(e), io, false);
            }
            throw e;
        }
        HttpResponse<InputStream> response = fetched.response();
        int status = response.statusCode();
        try (InputStream body = response.body()) {
            if (status == 416) {
                // The range starts at or past the end: our partial file is unusable; start over.
                deleteQuietly(incomplete);
                throw new TransferInterrupted("server refused the resume range", null, false);
            }
            if (status >= 300) {
                throw HubErrors.http(status, response.headers(), fetched.url(), ctx);
            }
            long start = 0;
            if (status == 206) {
                Matcher m = CONTENT_RANGE.matcher(response.headers().firstValue("Content-Range").orElse(""));
                if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                    deleteQuietly(incomplete);
                    throw new TransferInterrupted("server answered the resume request with a different range",
                            null, false);
                }
                start = have;
            }
            stream(body, meta, incomplete, start, hasher, path, out);
        } catch (IOException e) {
            // closing the body failed: nothing left to do with it
        }
    }

    private void stream(InputStream body, FileMetadata meta, Path incomplete, long start, Hasher hasher,
            String path, DownloadListener out) throws TransferInterrupted {
        Watchdog watchdog = new Watchdog(body, stallTimeout);
        try (FileChannel channel = openForWrite(incomplete, start)) {
            hasher.catchUp(incomplete, start);
            BlockWriter writer = new BlockWriter(channel, incomplete, start);
            try {
                receive(body, watchdog, writer, hasher, meta, incomplete, path, out);
            } finally {
                writer.flush(); // what arrived stays on disk, also when the transfer broke off: a resume continues after it
            }
            try {
                channel.force(true);
            } catch (IOException e) {
                throw HubErrors.io("write " + incomplete, incomplete, e);
            }
            if (writer.next < meta.size()) {
                throw new TransferInterrupted("connection closed after " + writer.next + " of " + meta.size()
                        + " bytes", null, writer.next > start);
            }
        } catch (IOException e) {
            throw HubErrors.io("write " + incomplete, incomplete, e);
        } finally {
            watchdog.stop();
        }
    }

    /** Reads the body to its end into the writer, hashing and reporting progress as the bytes arrive. */
    private void receive(InputStream body, Watchdog watchdog, BlockWriter writer, Hasher hasher, FileMetadata meta,
            Path incomplete, String path, DownloadListener out) throws TransferInterrupted {
        long start = writer.next;
        byte[] buffer = new byte[BUFFER_SIZE];
        while (true) {
            int n;
            try {
                n = body.read(buffer);
            } catch (IOException e) {
                String why = watchdog.fired() ? "no data for " + stallTimeout.toSeconds() + " s"
                        : String.valueOf(e.getMessage());
                throw new TransferInterrupted(why, e, writer.next > start);
            }
            if (n < 0) {
                return;
            }
            watchdog.alive();
            if (writer.next + n > meta.size()) {
                throw integrityFailure(incomplete, path, "the server sent more than the announced "
                        + meta.size() + " bytes");
            }
            writer.write(buffer, n);
            hasher.update(buffer, n);
            out.onProgress(path, writer.next, meta.size());
        }
    }

    /** Collects received bytes and writes them in blocks that end at multiples of {@link #WRITE_BLOCK}. */
    static final class BlockWriter {
        private final FileChannel channel;
        private final Path file;
        private final byte[] block = new byte[WRITE_BLOCK];
        private int filled;
        /** File offset of the next byte received. */
        long next;

        BlockWriter(FileChannel channel, Path file, long start) {
            this.channel = channel;
            this.file = file;
            this.next = start;
        }

        void write(byte[] bytes, int n) {
            for (int off = 0; off < n; ) {
                int untilBoundary = (int) (WRITE_BLOCK - next % WRITE_BLOCK);
                int c = Math.min(n - off, untilBoundary);
                System.arraycopy(bytes, off, block, filled, c);
                filled += c;
                off += c;
                next += c;
                if (c == untilBoundary) flush();
            }
        }

        void flush() {
            writeFully(channel, block, filled, file);
            filled = 0;
        }
    }

    private static FileChannel openForWrite(Path incomplete, long start) throws IOException {
        FileChannel channel = FileChannel.open(incomplete, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            channel.truncate(start);
            channel.position(start);
            return channel;
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    private static void writeFully(FileChannel channel, byte[] buffer, int n, Path incomplete) {
        ByteBuffer bb = ByteBuffer.wrap(buffer, 0, n);
        try {
            while (bb.hasRemaining()) {
                channel.write(bb);
            }
        } catch (IOException e) {
            throw HubErrors.io("write " + incomplete, incomplete, e);
        }
    }

    private void verify(FileMetadata meta, Path incomplete, Hasher hasher, String path) {
        long size = sizeOrZero(incomplete);
        if (size != meta.size()) {
            throw integrityFailure(incomplete, path, "the file has " + size + " bytes but the Hub announced "
                    + meta.size());
        }
        hasher.catchUp(incomplete, size);
        Optional<String> actual = hasher.finish();
        if (actual.isPresent() && !actual.get().equals(meta.etag())) {
            throw integrityFailure(incomplete, path, "its " + hasher.algorithm() + " is " + actual.get()
                    + " but the Hub announced " + meta.etag());
        }
    }

    private static HubException integrityFailure(Path incomplete, String path, String what) {
        deleteQuietly(incomplete);
        return new HubException(HubException.Kind.INTEGRITY, "Download of " + path + " is corrupt: " + what
                + ". The partial file was deleted; run again to download it afresh. If it keeps happening, a proxy"
                + " or mirror (HF_ENDPOINT) may be altering the data.");
    }

    private static void warnIfLowOnSpace(Path dir, long needed, DownloadListener out) {
        try {
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < needed) {
                out.onMessage("Warning: " + ConsoleProgressBar.bytes(needed) + " to download but only "
                        + ConsoleProgressBar.bytes(free) + " free on the disk holding " + dir
                        + ". Free space, or point HF_HUB_CACHE (or HF_HOME) at a larger disk.");
            }
        } catch (IOException e) {
            // unknown free space: the write itself will tell
        }
    }

    /** Incremental checksum of the blob named by its ETag: sha256 for LFS files, git blob sha1 otherwise. */
    private static final class Hasher {
        private final String algorithm;
        private final byte[] prefix;
        private MessageDigest digest;
        private long covered;

        private Hasher(String algorithm, byte[] prefix) {
            this.algorithm = algorithm;
            this.prefix = prefix;
            reset();
        }

        static Hasher forEtag(String etag, long size) {
            if (SHA256.matcher(etag).matches()) {
                return new Hasher("SHA-256", new byte[0]);
            }
            if (GIT_SHA1.matcher(etag).matches()) {
                // git hashes "blob <size>\0" followed by the content
                return new Hasher("SHA-1", ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
            }
            return new Hasher(null, new byte[0]);
        }

        String algorithm() {
            return algorithm == null ? "checksum" : algorithm.equals("SHA-1") ? "git blob sha1" : "sha256";
        }

        private void reset() {
            covered = 0;
            if (algorithm == null) {
                digest = null;
                return;
            }
            try {
                digest = MessageDigest.getInstance(algorithm);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(algorithm + " missing from the JDK", e);
            }
            digest.update(prefix);
        }

        void update(byte[] buffer, int n) {
            if (digest != null) {
                digest.update(buffer, 0, n);
            }
            covered += n;
        }

        /** Makes the digest cover exactly the first {@code length} bytes of {@code file}. */
        void catchUp(Path file, long length) {
            if (covered == length) {
                return;
            }
            reset();
            if (digest == null) {
                covered = length;
                return;
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buffer = new byte[BUFFER_SIZE];
                long left = length;
                while (left > 0) {
                    int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                    if (n < 0) {
                        break;
                    }
                    update(buffer, n);
                    left -= n;
                }
            } catch (IOException e) {
                throw HubErrors.io("read " + file, file, e);
            }
        }

        /** The hex digest of what was hashed, or empty when the ETag is not a checksum we know. */
        Optional<String> finish() {
            return digest == null ? Optional.empty() : Optional.of(HexFormat.of().formatHex(digest.digest()));
        }
    }

    /** Closes the body stream when no byte arrived for the stall timeout, which makes the blocked read fail. */
    private static final class Watchdog {
        private final Thread thread;
        private volatile long lastProgress = System.nanoTime();
        private volatile boolean stopped;
        private volatile boolean fired;

        Watchdog(InputStream body, Duration stall) {
            long stallNanos = stall.toNanos();
            long tick = Math.max(10, Math.min(1000, stall.toMillis() / 4));
            thread = Thread.ofVirtual().name("hub-download-watchdog").start(() -> {
                while (!stopped) {
                    try {
                        Thread.sleep(tick);
                    } catch (InterruptedException e) {
                        return;
                    }
                    if (!stopped && System.nanoTime() - lastProgress > stallNanos) {
                        fired = true;
                        try {
                            body.close();
                        } catch (IOException ignored) {
                            // the reader sees the failure
                        }
                        return;
                    }
                }
            });
        }

        void alive() {
            lastProgress = System.nanoTime();
        }

        boolean fired() {
            return fired;
        }

        void stop() {
            stopped = true;
            thread.interrupt();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // HTTP plumbing

    private record Fetched<T>(HttpResponse<T> response, String url) {
    }

    /**
     * GET following redirects by hand. The token goes only to the endpoint's own host: a redirect to another host (the
     * CDN, with a signed URL) gets no Authorization header, as huggingface_hub and requests do.
     */
    private <T> Fetched<T> sendFollowing(String url, Duration timeout, Map<String, String> extraHeaders,
            HttpResponse.BodyHandler<T> handler, HubErrors.Context ctx) {
        String current = url;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder builder = request(current, timeout).GET();
            extraHeaders.forEach(builder::header);
            HttpResponse<T> response = send(builder.build(), handler, current);
            int status = response.statusCode();
            Optional<String> location = response.headers().firstValue("Location");
            if (status >= 300 && status < 400 && status != 304 && location.isPresent()) {
                discard(response);
                if (hop >= MAX_REDIRECTS) {
                    throw new HubException(HubException.Kind.NETWORK, "Too many redirects fetching " + url + ".");
                }
                current = URI.create(current).resolve(location.get()).toString();
                continue;
            }
            return new Fetched<>(response, current);
        }
    }

    private static void discard(HttpResponse<?> response) {
        if (response.body() instanceof InputStream in) {
            try {
                in.close();
            } catch (IOException ignored) {
                // nothing to release
            }
        }
    }

    private HttpRequest.Builder request(String url, Duration timeout) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(url))
                .timeout(timeout)
                .header("User-Agent", userAgent)
                .header("Accept-Encoding", "identity"); // we need the real size and the exact bytes
        if (token != null && sameAuthority(url, endpoint)) {
            builder.header("Authorization", "Bearer " + token);
        }
        return builder;
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler, String url) {
        try {
            return http.send(request, handler);
        } catch (IOException e) {
            throw HubErrors.network(e, url, endpoint);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(HubException.Kind.NETWORK, "Interrupted while talking to "
                    + HubErrors.hostOf(url) + ".", e);
        }
    }

    static boolean sameAuthority(String a, String b) {
        URI ua = URI.create(a);
        URI ub = URI.create(b);
        return Objects.equals(lower(ua.getScheme()), lower(ub.getScheme()))
                && Objects.equals(lower(ua.getHost()), lower(ub.getHost()))
                && effectivePort(ua) == effectivePort(ub);
    }

    private static String lower(String s) {
        return s == null ? null : s.toLowerCase(java.util.Locale.ROOT);
    }

    private static int effectivePort(URI uri) {
        if (uri.getPort() >= 0) {
            return uri.getPort();
        }
        return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
    }

    private static boolean isRelative(String location) {
        try {
            URI uri = URI.create(location);
            return uri.getScheme() == null && uri.getRawAuthority() == null;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * Percent-encodes as Python's urllib.parse.quote: letters, digits, {@code _.-~} and the {@code safe} characters
     * stay, every other UTF-8 byte becomes %XX.
     */
    static String quote(String text, String safe) {
        StringBuilder sb = new StringBuilder();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            boolean keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '.' || c == '-' || c == '~' || (c < 0x80 && safe.indexOf(c) >= 0);
            if (keep) {
                sb.append((char) c);
            } else {
                sb.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Small helpers

    private HubErrors.Context context(RepoId repo, String rev, String path) {
        return new HubErrors.Context(repo, rev, path, endpoint, token != null, tokenFile);
    }

    private static String effectiveRevision(RepoId repo, String revision) {
        String rev = revision != null ? revision : repo.revisionOrDefault();
        String problem = RepoId.revisionProblem(rev);
        if (problem != null) {
            throw new IllegalArgumentException("Invalid revision '" + rev + "': " + problem
                    + ". Use a branch, tag or commit hash, e.g. main.");
        }
        return rev;
    }

    private static OptionalLong parseLong(String value) {
        if (value == null) {
            return OptionalLong.empty();
        }
        try {
            long v = Long.parseLong(value.strip());
            return v >= 0 ? OptionalLong.of(v) : OptionalLong.empty();
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    private static long sizeOrZero(Path file) {
        try {
            return Files.exists(file) ? Files.size(file) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // a leftover .incomplete is harmless: it never looks like a finished blob
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(HubException.Kind.NETWORK, "Interrupted while waiting to resume a download.", e);
        }
    }

    private static String firstSentence(HubException e) {
        String m = String.valueOf(e.getMessage());
        int dot = m.indexOf(". ");
        return dot > 0 ? m.substring(0, dot) : m;
    }

    private static String preview(List<String> files) {
        if (files.isEmpty()) {
            return "no files";
        }
        int n = Math.min(files.size(), 20);
        String shown = String.join(", ", files.subList(0, n));
        return files.size() > n ? shown + ", ... (" + files.size() + " files)" : shown;
    }

    private static String stripSlash(String url) {
        String s = url;
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        return s;
    }

    /** Settings; anything not set comes from the environment as huggingface_hub reads it. */
    public static final class Builder {
        private Function<String, String> environment = System::getenv;
        private Path userHome = Path.of(System.getProperty("user.home"));
        private Path cacheDir;
        private String endpoint;
        private String token;
        private boolean tokenSet;
        private Boolean offline;
        private Duration connectTimeout = Duration.ofSeconds(10);
        private Duration metadataTimeout;
        private Duration stallTimeout;
        private int maxRetries = 5;
        private Duration retryDelay = Duration.ofSeconds(1);
        private String userAgent;

        private Builder() {
        }

        /** Where environment variables are read from (default {@link System#getenv}); for tests. */
        public Builder environment(Function<String, String> lookup) {
            this.environment = Objects.requireNonNull(lookup, "lookup");
            return this;
        }

        public Builder environment(Map<String, String> variables) {
            Map<String, String> copy = Map.copyOf(variables);
            return environment(copy::get);
        }

        /** Home directory for {@code ~} defaults (default: the user.home property). */
        public Builder userHome(Path home) {
            this.userHome = Objects.requireNonNull(home, "home");
            return this;
        }

        /** Hub cache root, overriding HF_HUB_CACHE / HF_HOME. */
        public Builder cacheDir(Path dir) {
            this.cacheDir = dir;
            return this;
        }

        /** Hub URL, overriding HF_ENDPOINT. */
        public Builder endpoint(String url) {
            this.endpoint = url;
            return this;
        }

        /** Token to send, overriding HF_TOKEN and the token file; null sends none. */
        public Builder token(String value) {
            this.token = value;
            this.tokenSet = true;
            return this;
        }

        /** Cache-only mode, overriding HF_HUB_OFFLINE. */
        public Builder offline(boolean value) {
            this.offline = value;
            return this;
        }

        /** TCP connect timeout (default 10 s). */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /** Wait for metadata answers (HEAD, file list); default HF_HUB_ETAG_TIMEOUT or 10 s. */
        public Builder metadataTimeout(Duration timeout) {
            this.metadataTimeout = timeout;
            return this;
        }

        /** Give up on a download that receives nothing for this long; default HF_HUB_DOWNLOAD_TIMEOUT or 10 s. */
        public Builder stallTimeout(Duration timeout) {
            this.stallTimeout = timeout;
            return this;
        }

        /** Resume attempts after a broken connection that made no progress (default 5). */
        public Builder maxRetries(int retries) {
            if (retries < 0) {
                throw new IllegalArgumentException("maxRetries must be >= 0, got " + retries);
            }
            this.maxRetries = retries;
            return this;
        }

        /** Pause before resuming a broken download (default 1 s). */
        public Builder retryDelay(Duration delay) {
            this.retryDelay = Objects.requireNonNull(delay, "delay");
            return this;
        }

        public Builder userAgent(String value) {
            this.userAgent = value;
            return this;
        }

        public HubClient build() {
            return new HubClient(this, new HubEnvironment(environment, userHome));
        }
    }
}
