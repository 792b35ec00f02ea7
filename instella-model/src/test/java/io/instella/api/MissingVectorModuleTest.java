package io.instella.api;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** A library user who forgot the JVM flag gets a message saying which flag, not a NoClassDefFoundError. */
class MissingVectorModuleTest {

    /** Tries to load a model in this JVM and prints what it got. */
    public static void main(String[] args) {
        try {
            InstellaModel.load(Path.of(args[0]));
            System.out.println("loaded");
        } catch (Throwable e) {
            System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    @Test
    void loadWithoutTheVectorModuleNamesTheFlag() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        // Any directory will do: the check comes before the model is read.
        Process p = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"),
                MissingVectorModuleTest.class.getName(), System.getProperty("java.io.tmpdir"))
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(out).contains("InstellaApiException: the Instella engine needs the Vector API")
                .contains("--add-modules jdk.incubator.vector");
    }
}
