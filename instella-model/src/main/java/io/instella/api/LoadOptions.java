package io.instella.api;

import io.instella.hub.ConsoleProgressBar;
import io.instella.hub.DownloadListener;

/**
 * How {@link InstellaModel#load(String, LoadOptions)} loads a model.
 *
 * @param downloadListener progress of Hub downloads (null: silent)
 * @param contextLength    tokens of context (prompt and answer) at most; null: the model's own (32768 for
 *                         Instella-VL-1B). The key/value cache grows with use, up to this length.
 */
public record LoadOptions(DownloadListener downloadListener, Integer contextLength) {

    public LoadOptions {
        if (contextLength != null && contextLength < 2) {
            throw new IllegalArgumentException("contextLength must be at least 2, got " + contextLength);
        }
    }

    /** Silent downloads, the model's own context length. */
    public static LoadOptions defaults() {
        return new LoadOptions(null, null);
    }

    public LoadOptions withDownloadListener(DownloadListener listener) {
        return new LoadOptions(listener, contextLength);
    }

    /** A download progress bar on stderr (redrawn in place on a terminal, a line every 10 s otherwise). */
    public LoadOptions withConsoleProgress() {
        return new LoadOptions(new ConsoleProgressBar(), contextLength);
    }

    public LoadOptions withContextLength(int tokens) {
        return new LoadOptions(downloadListener, tokens);
    }
}
