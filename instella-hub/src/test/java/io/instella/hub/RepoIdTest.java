package io.instella.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class RepoIdTest {

    @Test
    void parsesIdTypeAndRevision() {
        RepoId plain = RepoId.parse("amd/Instella-VL-1B");
        assertThat(plain).isEqualTo(new RepoId("amd/Instella-VL-1B", RepoType.MODEL));
        assertThat(plain.revision()).isNull();
        assertThat(plain.revisionOrDefault()).isEqualTo("main");

        RepoId tagged = RepoId.parse("amd/Instella-VL-1B@v1.0");
        assertThat(tagged.id()).isEqualTo("amd/Instella-VL-1B");
        assertThat(tagged.revision()).isEqualTo("v1.0");

        RepoId pr = RepoId.parse("amd/Instella-VL-1B@refs/pr/1");
        assertThat(pr.revision()).isEqualTo("refs/pr/1");

        RepoId data = RepoId.parse("datasets/lmms-lab/MME@0123456789abcdef0123456789abcdef01234567");
        assertThat(data.type()).isEqualTo(RepoType.DATASET);
        assertThat(data.id()).isEqualTo("lmms-lab/MME");
        assertThat(data.folderName()).isEqualTo("datasets--lmms-lab--MME");
        assertThat(data.toString()).isEqualTo("datasets/lmms-lab/MME@0123456789abcdef0123456789abcdef01234567");

        assertThat(RepoId.parse("gpt2").folderName()).isEqualTo("models--gpt2");
        assertThat(RepoId.model("amd/Instella-VL-1B").folderName()).isEqualTo("models--amd--Instella-VL-1B");
    }

    @Test
    void rejectsWhatTheHubRejects() {
        for (String bad : new String[] {"", "a/b/c", "org/-name", "org/name.", "org--x/name", "org/na..me",
                "org/name.git", "org/na me", "org/name@", "org/name@../x", "./local", "/abs/path"}) {
            assertThatThrownBy(() -> RepoId.parse(bad)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(bad.isEmpty() ? "empty" : "'");
        }
        assertThatThrownBy(() -> RepoId.parse("org/" + "x".repeat(100))).hasMessageContaining("96");
    }

    @Test
    void looksLikeRepoIdWantsOrgSlashName() {
        assertThat(RepoId.looksLikeRepoId("amd/Instella-VL-1B")).isTrue();
        assertThat(RepoId.looksLikeRepoId("amd/Instella-VL-1B@main")).isTrue();
        assertThat(RepoId.looksLikeRepoId("datasets/lmms-lab/MME")).isTrue();
        assertThat(RepoId.looksLikeRepoId("amd/Instella_VL.1B")).isTrue();

        assertThat(RepoId.looksLikeRepoId("model")).isFalse(); // a bare name is more likely a folder
        assertThat(RepoId.looksLikeRepoId("./amd/Instella")).isFalse();
        assertThat(RepoId.looksLikeRepoId("/models/amd/Instella")).isFalse();
        assertThat(RepoId.looksLikeRepoId("models/amd/Instella")).isFalse();
        assertThat(RepoId.looksLikeRepoId("~/models")).isFalse();
        assertThat(RepoId.looksLikeRepoId("../x")).isFalse();
        assertThat(RepoId.looksLikeRepoId("C:\\models\\x")).isFalse();
        assertThat(RepoId.looksLikeRepoId("amd/x@")).isFalse();
        assertThat(RepoId.looksLikeRepoId(null)).isFalse();
    }
}
