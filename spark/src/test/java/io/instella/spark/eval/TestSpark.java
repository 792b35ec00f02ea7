package io.instella.spark.eval;

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

    /**
     * {@code local-cluster[2,1,1024]}: two executors in separate JVMs, as on a cluster. They are started by Spark
     * with its module flags; their classpath is this test JVM's (surefire's), so they load the project's classes.
     * Without a Spark distribution (no SPARK_HOME/jars), the worker's launcher needs to be told the Scala version and
     * that no jars directory is expected (SPARK_TESTING), else it fails with "Cannot find any build directories".
     */
    public static SparkSession localCluster() {
        return builder("local-cluster[2,1,1024]")
                .config("spark.executor.extraClassPath", System.getProperty("java.class.path"))
                .config("spark.executorEnv.SPARK_SCALA_VERSION", "2.13")
                .config("spark.executorEnv.SPARK_TESTING", "1")
                .config("spark.executor.extraJavaOptions", "-Xss8m")
                .getOrCreate();
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
