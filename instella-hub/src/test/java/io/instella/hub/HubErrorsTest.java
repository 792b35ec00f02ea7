package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpHeaders;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Messages for failures the fake Hub cannot provoke: a full disk, denied permissions, server errors. */
class HubErrorsTest {

    private static final HubErrors.Context CTX = new HubErrors.Context(RepoId.model("org/name"), "main",
            "model.safetensors", "https://huggingface.co", false, Path.of("/home/u/.cache/huggingface/token"));

    @Test
    void fullDiskSaysSoAndWhereToGo() {
        HubException e = HubErrors.io("write /c/blobs/x.incomplete", Path.of("/c/blobs/x.incomplete"),
                new FileSystemException("/c/blobs/x.incomplete", null, "No space left on device"));
        assertThat(e.kind()).isEqualTo(HubException.Kind.IO);
        assertThat(e.getMessage()).startsWith("Disk full").contains("/c/blobs/x.incomplete")
                .contains("HF_HUB_CACHE");
    }

    @Test
    void permissionDeniedNamesThePath() {
        HubException e = HubErrors.io("create /c/refs", Path.of("/c/refs"), new AccessDeniedException("/c/refs"));
        assertThat(e.getMessage()).startsWith("Permission denied").contains("/c/refs").contains("HF_HOME");
    }

    @Test
    void serverErrorsAndRateLimitsAreNetworkProblemsWithTheOfflineHint() {
        HttpHeaders none = HttpHeaders.of(Map.of(), (a, b) -> true);
        HubException e503 = HubErrors.http(503, none, "https://huggingface.co/org/name/resolve/main/x", CTX);
        assertThat(e503.kind()).isEqualTo(HubException.Kind.NETWORK);
        assertThat(e503.getMessage()).contains("503").contains("HF_HUB_OFFLINE=1");
        HubException e429 = HubErrors.http(429, none, "u", CTX);
        assertThat(e429.getMessage()).contains("rate-limiting");
    }

    @Test
    void serverMessageIsPassedOn() {
        HttpHeaders h = HttpHeaders.of(Map.of("X-Error-Message", List.of("Access to model org/name is restricted")),
                (a, b) -> true);
        HubException e = HubErrors.http(403, h, "u", CTX);
        assertThat(e.kind()).isEqualTo(HubException.Kind.AUTH);
        assertThat(e.getMessage()).contains("The Hub said: Access to model org/name is restricted")
                .contains("HF_TOKEN");
    }

    @Test
    void refusedConnectionNamesHostAndEndpoint() {
        IOException refused = new ConnectException("Connection refused");
        HubException e = HubErrors.network(refused, "https://huggingface.co/org/name", "https://huggingface.co");
        assertThat(e.getMessage()).startsWith("Cannot connect to huggingface.co (Connection refused).")
                .contains("HF_ENDPOINT (now https://huggingface.co)").contains("HF_HUB_OFFLINE=1");
    }
}
