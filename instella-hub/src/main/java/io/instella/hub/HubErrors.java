package io.instella.hub;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Locale;
import javax.net.ssl.SSLException;

/** Turns HTTP statuses and I/O exceptions into {@link HubException}s whose messages say what to do. */
final class HubErrors {

    static final String OFFLINE_HINT = "To use only files already in the cache, set HF_HUB_OFFLINE=1.";
    private static final String WHERE_HINT = "point HF_HUB_CACHE (or HF_HOME) at another directory";

    private HubErrors() {
    }

    /** What a request was about, for messages. {@code path} is null for repository-level calls. */
    record Context(RepoId repo, String revision, String path, String endpoint, boolean tokenSent, Path tokenFile) {
        String repoLabel() {
            return (repo.type() == RepoType.DATASET ? "dataset " : "model ") + repo.id();
        }

        String target() {
            return (path != null ? "'" + path + "' in " : "") + repoLabel() + " at revision '" + revision + "'";
        }
    }

    static HubException http(int status, HttpHeaders headers, String url, Context ctx) {
        String code = headers.firstValue("X-Error-Code").orElse("");
        String serverMessage = headers.firstValue("X-Error-Message").map(m -> " The Hub said: " + m).orElse("");
        String tokenHint = ctx.tokenSent()
                ? "The token in use (HF_TOKEN or " + ctx.tokenFile() + ") was sent but does not grant access."
                : "No token was sent: set HF_TOKEN to a token with read access (or put it in " + ctx.tokenFile()
                        + ", e.g. with `huggingface-cli login`).";
        if (code.equals("GatedRepo")) {
            return new HubException(HubException.Kind.AUTH, "Cannot download " + ctx.target() + ": it is a gated"
                    + " repository (HTTP " + status + "). Accept its conditions at " + ctx.endpoint() + "/"
                    + ctx.repo().urlPath() + " with your account, then use a token of that account. " + tokenHint
                    + serverMessage);
        }
        if (status == 401) {
            return new HubException(HubException.Kind.AUTH, "Cannot download " + ctx.target()
                    + ": the Hub answered 401 Unauthorized. The repository is private, gated, or does not exist. "
                    + tokenHint + " Otherwise check the repository id." + serverMessage);
        }
        if (status == 403) {
            return new HubException(HubException.Kind.AUTH, "Cannot download " + ctx.target()
                    + ": access forbidden (HTTP 403). " + tokenHint + serverMessage);
        }
        if (status == 404 || status == 410) {
            if (code.equals("RevisionNotFound")) {
                return new HubException(HubException.Kind.NOT_FOUND, "Revision '" + ctx.revision()
                        + "' not found in " + ctx.repoLabel() + ". Check the branch, tag or commit hash (see "
                        + ctx.endpoint() + "/" + ctx.repo().urlPath() + "/tree/main)." + serverMessage);
            }
            if (code.equals("EntryNotFound")) {
                return new HubException(HubException.Kind.NOT_FOUND, "File '" + ctx.path() + "' not found in "
                        + ctx.repoLabel() + " at revision '" + ctx.revision()
                        + "'. Check the file name (files are listed at " + ctx.endpoint() + "/"
                        + ctx.repo().urlPath() + "/tree/" + ctx.revision() + ")." + serverMessage);
            }
            if (code.equals("RepoNotFound") || ctx.path() == null) {
                String datasetHint = ctx.repo().type() == RepoType.MODEL
                        ? " If it is a dataset, write datasets/" + ctx.repo().id() + "." : "";
                return new HubException(HubException.Kind.NOT_FOUND, "Repository " + ctx.repoLabel()
                        + " not found on " + ctx.endpoint() + ". Check the id (org/name, case-sensitive)."
                        + datasetHint + (ctx.tokenSent() ? "" : " If it is private, set HF_TOKEN.") + serverMessage);
            }
            return new HubException(HubException.Kind.NOT_FOUND, "Not found (HTTP " + status + "): "
                    + ctx.target() + " (" + url + "). Check the repository id, the revision and the file name."
                    + serverMessage);
        }
        if (status == 429) {
            return new HubException(HubException.Kind.NETWORK, "The Hub is rate-limiting requests (HTTP 429) for "
                    + ctx.target() + ". Wait a few minutes and retry; logging in (HF_TOKEN) raises the limits. "
                    + OFFLINE_HINT + serverMessage);
        }
        if (status >= 500) {
            return new HubException(HubException.Kind.NETWORK, "The Hub answered HTTP " + status + " for "
                    + ctx.target() + " (" + url + "): a server-side problem, retry later. " + OFFLINE_HINT
                    + serverMessage);
        }
        return new HubException(HubException.Kind.NETWORK, "Unexpected HTTP " + status + " from " + url + " for "
                + ctx.target() + "." + serverMessage);
    }

    /** A request could not be completed at all (no HTTP status). */
    static HubException network(IOException e, String url, String endpoint) {
        String host = hostOf(url);
        String what;
        if (e instanceof HttpConnectTimeoutException) {
            what = "Timed out connecting to " + host + ".";
        } else if (e instanceof HttpTimeoutException) {
            what = "No answer from " + host + " in time (" + e.getMessage() + ").";
        } else if (hasCause(e, UnresolvedAddressException.class)
                || hasCause(e, java.net.UnknownHostException.class)) {
            what = "Cannot resolve the host name " + host + ".";
        } else if (e instanceof ConnectException) {
            what = "Cannot connect to " + host + (e.getMessage() != null ? " (" + e.getMessage() + ")" : "") + ".";
        } else if (hasCause(e, SSLException.class)) {
            what = "Secure connection to " + host + " failed (" + e.getMessage()
                    + "); check the system CA certificates and any intercepting proxy.";
        } else {
            what = "Network error talking to " + host + ": " + e + ".";
        }
        return new HubException(HubException.Kind.NETWORK, what + " Check the network connection, proxy settings"
                + " (HTTPS_PROXY) and HF_ENDPOINT (now " + endpoint + "). " + OFFLINE_HINT, e);
    }

    /** A local file operation failed; {@code where} is the path we were working on. */
    static HubException io(String action, Path where, IOException e) {
        Path file = e instanceof FileSystemException fse && fse.getFile() != null ? Path.of(fse.getFile()) : where;
        String text = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
        if (text.contains("no space left") || text.contains("disk quota") || text.contains("not enough space")) {
            return new HubException(HubException.Kind.IO, "Disk full: could not " + action + " (" + e.getMessage()
                    + "). Free space on the disk holding " + file + ", or " + WHERE_HINT + ".", e);
        }
        if (e instanceof AccessDeniedException || text.contains("permission denied")
                || text.contains("read-only file system")) {
            return new HubException(HubException.Kind.IO, "Permission denied: could not " + action + " (" + file
                    + "). Make the Hugging Face cache writable, or " + WHERE_HINT + ".", e);
        }
        if (e instanceof FileAlreadyExistsException || e instanceof NotDirectoryException
                || text.contains("not a directory")) {
            return new HubException(HubException.Kind.IO, "Could not " + action + ": " + file
                    + " is in the way (a file where the cache needs a directory, or the reverse). Remove it, or "
                    + WHERE_HINT + ".", e);
        }
        return new HubException(HubException.Kind.IO, "Could not " + action + ": " + e + ".", e);
    }

    static String hostOf(String url) {
        try {
            URI uri = URI.create(url);
            return uri.getPort() >= 0 ? uri.getHost() + ":" + uri.getPort() : uri.getHost();
        } catch (IllegalArgumentException e) {
            return url;
        }
    }

    private static boolean hasCause(Throwable e, Class<? extends Throwable> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }
}
