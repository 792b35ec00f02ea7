package io.instella.langchain4j;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** A JVM started without {@code --add-modules jdk.incubator.vector} gets told the flags, not a NoClassDefFoundError. */
class MissingJvmFlagsTest {

    /** Runs in the child JVM: builds a chat model, prints what went wrong. */
    public static void main(String[] args) {
        try {
            InstellaChatModel.builder().modelPath(Path.of(args[0])).build();
            System.out.println("built");
        } catch (IllegalStateException e) {
            System.out.println("refused: " + e.getMessage());
        }
    }

    @Test
    void buildingWithoutTheVectorModuleSaysWhichFlagsToAdd() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
                MissingJvmFlagsTest.class.getName(), Golden.resolve("model").toString()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(out).contains("refused: the Instella engine needs the Vector API: start the JVM with "
                + "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED");
    }
}
