package io.instella.hub;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * One repository's folder in the Hugging Face cache, laid out as huggingface_hub's file_download.py does:
 *
 * <pre>
 * {cache}/models--org--name/blobs/{etag}                 file content (sha256 for LFS files, git blob sha1 otherwise)
 * {cache}/models--org--name/blobs/{etag}.incomplete      download in progress (never looks complete)
 * {cache}/models--org--name/snapshots/{commit}/{path}    relative symlink to ../../blobs/{etag} (more ../ when nested)
 * {cache}/models--org--name/refs/{revision}              commit hash of a branch or tag, no trailing newline
 * {cache}/models--org--name/.no_exist/{commit}/{path}    empty marker: the file does not exist at that commit
 * {cache}/.locks/models--org--name/{etag}.lock           lock held while the blob is downloaded
 * </pre>
 */
final class RepoCache {

    private static final Pattern COMMIT_HASH = Pattern.compile("[0-9a-f]{40}");

    private final Path cacheRoot;
    private final Path root;
    private final String folderName;

    RepoCache(Path cacheRoot, RepoId repo) {
        this.cacheRoot = cacheRoot.toAbsolutePath().normalize();
        this.folderName = repo.folderName();
        this.root = this.cacheRoot.resolve(folderName);
    }

    static boolean isCommitHash(String revision) {
        return COMMIT_HASH.matcher(revision).matches();
    }

    Path root() {
        return root;
    }

    Path blob(String etag) {
        return root.resolve("blobs").resolve(etag);
    }

    Path incomplete(String etag) {
        return root.resolve("blobs").resolve(etag + ".incomplete");
    }

    Path snapshotDir(String commit) {
        return root.resolve("snapshots").resolve(commit);
    }

    /** {@code snapshots/<commit>/<path>}; {@code path} must already be validated by {@link #checkRepoPath}. */
    Path pointer(String commit, String path) {
        return snapshotDir(commit).resolve(path);
    }

    Path refFile(String revision) {
        return root.resolve("refs").resolve(revision);
    }

    Path noExistMarker(String commit, String path) {
        return root.resolve(".no_exist").resolve(commit).resolve(path);
    }

    Path lockFile(String etag) {
        return cacheRoot.resolve(".locks").resolve(folderName).resolve(etag + ".lock");
    }

    /** The commit a revision stands for in the cache: itself when it is a full hash, else what refs/ records. */
    Optional<String> resolveCommit(String revision) {
        if (isCommitHash(revision)) {
            return Optional.of(revision);
        }
        Path ref = refFile(revision);
        if (!Files.isRegularFile(ref)) {
            return Optional.empty();
        }
        try {
            // huggingface_hub reads the whole file as the hash; tolerate a trailing newline written by other tools.
            String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
            return commit.isEmpty() ? Optional.empty() : Optional.of(commit);
        } catch (IOException e) {
            throw ioError("read the cached reference " + ref, ref, e);
        }
    }

    /** The cached file for a revision, if present (the symlink target must exist too). */
    Optional<Path> cachedFile(String revision, String path) {
        return resolveCommit(revision).map(commit -> pointer(commit, path)).filter(Files::exists);
    }

    boolean knownMissing(String revision, String path) {
        return resolveCommit(revision).map(commit -> Files.isRegularFile(noExistMarker(commit, path))).orElse(false);
    }

    /**
     * Records that {@code revision} (a branch or tag) points at {@code commit}: refs/{revision} holds the hash without
     * a newline. Written through a temporary file and a rename so readers never see half a hash; left alone when
     * already right (the cache may be read-only).
     */
    void writeRef(String revision, String commit) {
        if (revision.equals(commit)) {
            return;
        }
        Path ref = refFile(revision);
        try {
            if (Files.isRegularFile(ref) && commit.equals(Files.readString(ref, StandardCharsets.UTF_8))) {
                return;
            }
            Files.createDirectories(ref.getParent());
            Path tmp = ref.resolveSibling(ref.getFileName() + "." + UUID.randomUUID().toString().substring(0, 8)
                    + ".tmp");
            Files.writeString(tmp, commit, StandardCharsets.UTF_8);
            moveReplacing(tmp, ref);
        } catch (IOException e) {
            throw ioError("record the reference " + revision + " -> " + commit + " in " + ref, ref, e);
        }
    }

    /** Creates the empty .no_exist marker, as huggingface_hub does on a 404 for a file. */
    void markMissing(String commit, String path) {
        Path marker = noExistMarker(commit, path);
        try {
            Files.createDirectories(marker.getParent());
            if (!Files.exists(marker)) {
                Files.createFile(marker);
            }
        } catch (FileAlreadyExistsException ignored) {
            // another process wrote it first
        } catch (IOException e) {
            throw ioError("write the missing-file marker " + marker, marker, e);
        }
    }

    /**
     * Points {@code snapshots/<commit>/<path>} at the blob with a relative symlink (as os.path.relpath gives:
     * {@code ../../blobs/<etag>}, one more {@code ../} per directory level of the path). Where the file system has no
     * symlinks, the blob is copied instead, as huggingface_hub does.
     */
    void link(String etag, Path pointer) {
        Path blob = blob(etag);
        try {
            Files.createDirectories(pointer.getParent());
            Files.deleteIfExists(pointer);
            Path target = pointer.getParent().relativize(blob);
            try {
                Files.createSymbolicLink(pointer, target);
            } catch (FileAlreadyExistsException e) {
                // Another process linked it between delete and create: fine when it points at the same blob.
                if (!Files.isSymbolicLink(pointer) || !pointer.toRealPath().equals(blob.toRealPath())) {
                    throw e;
                }
            } catch (UnsupportedOperationException | FileSystemException e) {
                Files.copy(blob, pointer, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw ioError("link " + pointer + " to " + blob, pointer, e);
        }
    }

    static void moveReplacing(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Checks a file path inside a repository ("config.json", "sub/dir/file.bin") and returns it unchanged: forward
     * slashes, no empty, "." or ".." segments, so the snapshot pointer stays inside its snapshot folder.
     */
    static String checkRepoPath(String path) {
        if (path == null || path.isEmpty()) {
            throw new IllegalArgumentException("File path in the repository is empty; give e.g. config.json.");
        }
        if (path.startsWith("/") || path.contains("\\")) {
            throw new IllegalArgumentException("Invalid file path '" + path
                    + "' in the repository: use a relative path with '/' separators, e.g. sub/dir/file.json.");
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                throw new IllegalArgumentException("Invalid file path '" + path
                        + "' in the repository: empty, '.' and '..' segments are not allowed.");
            }
        }
        return path;
    }

    static HubException ioError(String action, Path where, IOException e) {
        return HubErrors.io(action, where, e);
    }
}
