package io.instella.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.util.Map;

/** Starting (or joining) the Spark session of a job: generate, eval, train and bench all start theirs here. */
public final class SparkSessions {
    private SparkSessions() {
    }

    /** A session and whether this job started it (then the job stops it when done). */
    public record Started(SparkSession spark, boolean owned) implements AutoCloseable {
        public boolean local() {
            return isLocal(spark.sparkContext().master());
        }

        @Override
        public void close() {
            if (owned) spark.stop();
        }
    }

    public static boolean isLocal(String master) {
        return master != null && (master.equals("local") || master.startsWith("local["));
    }

    /**
     * The active session when there is one (a test, or the job called from a program), else a new one. The master is
     * spark-submit's ({@code spark.master}) when set, else {@code master}, else {@code local[*]}. In local mode the
     * web UI is off unless {@code spark.ui.enabled=true} is given.
     *
     * @param conf Spark settings (--conf) for a session this call starts; a running session keeps its own
     */
    public static Started start(String appName, String master, Map<String, String> conf, PrintWriter err) {
        SparkSession active = SparkSession.getActiveSession().isDefined() ? SparkSession.getActiveSession().get()
                : SparkSession.getDefaultSession().isDefined() ? SparkSession.getDefaultSession().get() : null;
        if (active != null && !active.sparkContext().isStopped()) {
            String running = active.sparkContext().master();
            if (master != null && !master.equals(running)) {
                err.println("instella-spark: note: joining the running Spark session (master " + running + "); --master " + master + " is not used");
            }
            return new Started(active, false);
        }
        SparkConf sparkConf = new SparkConf(); // spark-submit's settings arrive as spark.* system properties
        if (!sparkConf.contains("spark.master")) {
            sparkConf.setMaster(master != null ? master : "local[*]");
        } else if (master != null && !master.equals(sparkConf.get("spark.master"))) {
            err.println("instella-spark: note: spark-submit's master " + sparkConf.get("spark.master") + " is used, not --master " + master);
        }
        sparkConf.setIfMissing("spark.app.name", appName);
        if (isLocal(sparkConf.get("spark.master"))) sparkConf.setIfMissing("spark.ui.enabled", "false");
        conf.forEach(sparkConf::set);
        return new Started(SparkSession.builder().config(sparkConf).getOrCreate(), true);
    }
}
