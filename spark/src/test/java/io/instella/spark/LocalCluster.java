package io.instella.spark;

import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A {@code local-cluster[2,1,1024]} session: a standalone master and two workers inside the test JVM, each worker
 * starting its executor as a separate JVM, as on a cluster.
 *
 * <p>What that needs outside a Spark distribution: the workers build the executor's command with Spark's launcher,
 * which wants {@code SPARK_HOME} with a {@code jars/} folder (an empty one will do: the classes come from
 * {@code spark.executor.extraClassPath}, the test JVM's classpath) and {@code SPARK_SCALA_VERSION}, which a
 * distribution's scripts would set; the pom's surefire configuration sets both. Spark adds its JVM module flags to the executors itself;
 * {@code -Dinstella.threads=1} keeps each one-core executor to one kernel thread.
 */
public final class LocalCluster {
    private LocalCluster() {
    }

    public static SparkSession start(String appName) throws IOException {
        String sparkHome = System.getenv("SPARK_HOME");
        if (sparkHome == null || System.getenv("SPARK_SCALA_VERSION") == null) {
            throw new IllegalStateException("local-cluster tests need SPARK_HOME and SPARK_SCALA_VERSION (set by spark/pom.xml's surefire configuration)");
        }
        Files.createDirectories(Path.of(sparkHome, "jars"));
        return SparkSession.builder().master("local-cluster[2,1,1024]").appName(appName)
                .config("spark.executor.extraClassPath", System.getProperty("java.class.path"))
                .config("spark.executor.extraJavaOptions", "-Xss8m -Dinstella.threads=1")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
    }
}
