package io.instella.hub;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A Hub repository: its id ({@code org/name}), its type, and optionally the revision (branch, tag or commit) named
 * together with it as in {@code org/name@rev}. A {@code null} revision means the default branch, {@code main}.
 *
 * <p>Textual form accepted by {@link #parse}: {@code [datasets/]org/name[@revision]}, e.g.
 * {@code amd/Instella-VL-1B}, {@code amd/Instella-VL-1B@main}, {@code datasets/lmms-lab/MME@2f3c...}.
 */
public record RepoId(String id, RepoType type, String revision) {

    /** Revision used when none is given, as in huggingface_hub. */
    public static final String DEFAULT_REVISION = "main";

    private static final String DATASET_PREFIX = "datasets/";
    // One part of a repo id, as huggingface_hub's validate_repo_id: word characters, '-' and '.', starting and
    // ending with a word character.
    private static final String PART = "[A-Za-z0-9_](?:[A-Za-z0-9_.\\-]*[A-Za-z0-9_])?";
    private static final Pattern REPO_ID = Pattern.compile("(?:" + PART + "/)?" + PART);
    private static final Pattern NAMESPACED_REPO_ID = Pattern.compile(PART + "/" + PART);
    private static final int MAX_REPO_ID_LENGTH = 96;

    public RepoId {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(type, "type");
        String problem = repoIdProblem(id);
        if (problem != null) {
            throw new IllegalArgumentException("Invalid Hub repository id '" + id + "': " + problem
                    + ". Expected the form org/name, e.g. amd/Instella-VL-1B.");
        }
        if (revision != null) {
            String revisionProblem = revisionProblem(revision);
            if (revisionProblem != null) {
                throw new IllegalArgumentException("Invalid revision '" + revision + "' for " + id + ": "
                        + revisionProblem + ". Use a branch, tag or commit hash, e.g. main.");
            }
        }
    }

    /** A repository without a revision (the default branch is used). */
    public RepoId(String id, RepoType type) {
        this(id, type, null);
    }

    public static RepoId model(String id) {
        return new RepoId(id, RepoType.MODEL);
    }

    public static RepoId dataset(String id) {
        return new RepoId(id, RepoType.DATASET);
    }

    /**
     * Parses {@code [datasets/]org/name[@revision]}.
     *
     * @throws IllegalArgumentException naming the problem when the text is not a repository id
     */
    public static RepoId parse(String spec) {
        Objects.requireNonNull(spec, "spec");
        String text = spec.strip();
        RepoType type = RepoType.MODEL;
        if (text.startsWith(DATASET_PREFIX)) {
            type = RepoType.DATASET;
            text = text.substring(DATASET_PREFIX.length());
        }
        String revision = null;
        int at = text.indexOf('@');
        if (at >= 0) {
            revision = text.substring(at + 1);
            text = text.substring(0, at);
            if (revision.isEmpty()) {
                throw new IllegalArgumentException("Invalid Hub repository '" + spec
                        + "': nothing after '@'. Write org/name@revision (a branch, tag or commit) or drop the '@'.");
            }
        }
        return new RepoId(text, type, revision);
    }

    /**
     * Whether {@code text} has the form of a Hub repository ({@code [datasets/]org/name[@revision]}, exactly one
     * slash in the id). A caller that also accepts local directories should check for an existing directory first:
     * a local directory wins.
     */
    public static boolean looksLikeRepoId(String text) {
        if (text == null) {
            return false;
        }
        String t = text.strip();
        if (t.startsWith(DATASET_PREFIX)) {
            t = t.substring(DATASET_PREFIX.length());
        }
        int at = t.indexOf('@');
        if (at >= 0) {
            if (revisionProblem(t.substring(at + 1)) != null) {
                return false;
            }
            t = t.substring(0, at);
        }
        return NAMESPACED_REPO_ID.matcher(t).matches() && repoIdProblem(t) == null;
    }

    /** The revision to use: this repo's own, else {@value #DEFAULT_REVISION}. */
    public String revisionOrDefault() {
        return revision != null ? revision : DEFAULT_REVISION;
    }

    public RepoId withRevision(String newRevision) {
        return new RepoId(id, type, newRevision);
    }

    /** Cache folder name, as huggingface_hub's repo_folder_name: {@code models--org--name}. */
    public String folderName() {
        return type.plural() + "--" + id.replace("/", "--");
    }

    /** Path of the repository in Hub URLs: {@code org/name} or {@code datasets/org/name}. */
    String urlPath() {
        return type.urlPrefix() + id;
    }

    @Override
    public String toString() {
        return (type == RepoType.DATASET ? DATASET_PREFIX : "") + id + (revision != null ? "@" + revision : "");
    }

    private static String repoIdProblem(String id) {
        if (id.isEmpty()) {
            return "it is empty";
        }
        if (id.length() > MAX_REPO_ID_LENGTH) {
            return "longer than " + MAX_REPO_ID_LENGTH + " characters";
        }
        if (!REPO_ID.matcher(id).matches()) {
            return "only letters, digits, '-', '_' and '.' are allowed, in at most two parts separated by '/',"
                    + " each starting and ending with a letter or digit";
        }
        if (id.contains("--") || id.contains("..")) {
            return "'--' and '..' are not allowed";
        }
        if (id.endsWith(".git")) {
            return "it must not end with .git";
        }
        return null;
    }

    static String revisionProblem(String revision) {
        if (revision.isEmpty()) {
            return "it is empty";
        }
        if (revision.startsWith("/") || revision.endsWith("/") || revision.contains("\\")) {
            return "it must not start or end with '/' or contain '\\'";
        }
        for (String part : revision.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                return "it contains an empty, '.' or '..' path segment";
            }
        }
        for (int i = 0; i < revision.length(); i++) {
            char c = revision.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                return "it contains a control character";
            }
        }
        return null;
    }
}
