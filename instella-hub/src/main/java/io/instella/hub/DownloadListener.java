package io.instella.hub;

import java.nio.file.Path;

/**
 * Receives progress of Hub downloads. All methods have empty defaults; implement the ones you need. Calls for one
 * {@link HubClient} operation come from the calling thread, in order.
 */
public interface DownloadListener {

    /** No output at all. */
    DownloadListener NONE = new DownloadListener() {
    };

    /**
     * A file transfer begins.
     *
     * @param file        path of the file inside the repository
     * @param totalBytes  size the Hub announced
     * @param alreadyHave bytes kept from an earlier, interrupted download of the same file
     */
    default void onStart(String file, long totalBytes, long alreadyHave) {
    }

    /** More bytes arrived; {@code bytesDone} counts everything on disk for this file so far. */
    default void onProgress(String file, long bytesDone, long totalBytes) {
    }

    /** The file was downloaded, verified and linked into the snapshot at {@code path}. */
    default void onComplete(String file, Path path) {
    }

    /** The file was already in the cache; nothing was downloaded. */
    default void onCacheHit(String file, Path path) {
    }

    /** A notice worth showing the user: a resumed download, a fallback to the cache, waiting for a lock. */
    default void onMessage(String message) {
    }
}
