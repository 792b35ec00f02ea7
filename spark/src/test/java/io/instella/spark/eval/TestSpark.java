package io.instella.spark.eval;

import io.instella.spark.LocalCluster;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/** The Spark applications of the tests: one per test class, started in @BeforeAll and stopped in @AfterAll. */
public final class TestSpark {
    private TestSpark() {
    }

    /**
     * {@code local[2]}: two task threads in this JVM, with the Kryo serializer (common on clusters; it cannot handle
     * Java records, so this checks that nothing the jobs ship depends on the serializer). local-cluster keeps Java's.
     */
    public static SparkSession local2() {
        return builder("local[2]").config("spark.serializer", "org.apache.spark.serializer.KryoSerializer").getOrCreate();
    }

    /** {@code local-cluster[2,1,1024]}: two executors in separate JVMs, as on a cluster (see {@link LocalCluster}). */
    public static SparkSession localCluster() {
        try {
            return LocalCluster.start("instella-spark tests");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static SparkSession.Builder builder(String master) {
        return SparkSession.builder().master(master).appName("instella-spark tests")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", "4");
    }

    public static JavaSparkContext context(SparkSession session) {
        return JavaSparkContext.fromSparkContext(session.sparkContext());
    }
}
