package io.instella.hub;

/** Kind of Hub repository; decides the cache folder prefix and the URL prefix. */
public enum RepoType {
    MODEL("models", ""),
    DATASET("datasets", "datasets/");

    private final String plural;
    private final String urlPrefix;

    RepoType(String plural, String urlPrefix) {
        this.plural = plural;
        this.urlPrefix = urlPrefix;
    }

    /** "models" or "datasets": the cache folder prefix ({@code models--org--name}) and the API path segment. */
    public String plural() {
        return plural;
    }

    /** Prefix of the repo id in resolve URLs: "" for models, "datasets/" for datasets. */
    String urlPrefix() {
        return urlPrefix;
    }
}
