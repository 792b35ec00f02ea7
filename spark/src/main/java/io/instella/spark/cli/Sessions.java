package io.instella.spark.cli;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.util.List;

/** Starting (or joining) the Spark session of a job. */
final class Sessions {
    private Sessions() {
    }

    /** A session and whether this job started it (then the job stops it when done). */
    record Started(SparkSession spark, boolean owned) implements AutoCloseable {
        boolean local() {
            return isLocal(spark.sparkContext().master());
        }

        @Override
        public void close() {
            if (owned) spark.stop();
        }
    }

    static boolean isLocal(String master) {
        return master != null && (master.equals("local") || master.startsWith("local["));
    }

    /**
     * The active session when there is one (a test, or the job called from a program), else a new one. The master is
     * spark-submit's ({@code spark.master}) when set, else {@code master}, else {@code local[*]}. In local mode the
     * web UI is off unless {@code --conf spark.ui.enabled=true}.
     *
     * @param confs {@code key=value} Spark settings (--conf)
     */
    static Started start(String appName, String master, List<String> confs, PrintWriter err) {
        SparkSession active = SparkSession.getActiveSession().isDefined() ? SparkSession.getActiveSession().get()
                : SparkSession.getDefaultSession().isDefined() ? SparkSession.getDefaultSession().get() : null;
        if (active != null && !active.sparkContext().isStopped()) {
            String running = active.sparkContext().master();
            if (master != null && !master.equals(running)) {
                err.println("instella-spark: note: joining the running Spark session (master " + running + "); --master " + master + " is not used");
            }
            return new Started(active, false);
        }
        SparkConf conf = new SparkConf(); // spark-submit's settings arrive as spark.* system properties
        if (!conf.contains("spark.master")) {
            conf.setMaster(master != null ? master : "local[*]");
        } else if (master != null && !master.equals(conf.get("spark.master"))) {
            err.println("instella-spark: note: spark-submit's master " + conf.get("spark.master") + " is used, not --master " + master);
        }
        conf.setIfMissing("spark.app.name", appName);
        if (isLocal(conf.get("spark.master"))) conf.setIfMissing("spark.ui.enabled", "false");
        for (String kv : confs) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new JobException("--conf takes KEY=VALUE (a Spark setting), got '" + kv + "'");
            conf.set(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        SparkSession spark = SparkSession.builder().config(conf).getOrCreate();
        return new Started(spark, true);
    }
}
