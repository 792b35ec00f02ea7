package io.instella.model.generate;

import java.util.List;

/** The chosen token's log-probability and, on request, the most likely alternatives at that step. */
public record TokenLogprob(int tokenId, String token, double logprob, List<Alternative> top) {
    public record Alternative(int tokenId, String token, double logprob) {}
}
