package io.instella.spark.eval;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import java.util.Map;

/**
 * The Spark application of a job command: the running one when there is one (a test, or a job started from
 * another Spark program), else a new one with {@code --master} (default: what spark-submit set, else
 * {@code local[*]}) and the {@code --conf} settings. Closing stops only a session this object started.
 */
public final class SparkApps implements AutoCloseable {
    private final SparkSession session;
    private final boolean owned;

    private SparkApps(SparkSession session, boolean owned) {
        this.session = session;
        this.owned = owned;
    }

    public static SparkApps start(String appName, String master, Map<String, String> conf) {
        if (SparkSession.getDefaultSession().isDefined() && master == null && (conf == null || conf.isEmpty())) {
            return new SparkApps(SparkSession.getDefaultSession().get(), false);
        }
        SparkSession.Builder b = SparkSession.builder().appName(appName).config("spark.ui.showConsoleProgress", "false");
        if (master != null) b.master(master);
        else if (!new SparkConf().contains("spark.master")) b.master("local[*]");
        if (conf != null) conf.forEach(b::config);
        boolean existed = SparkSession.getDefaultSession().isDefined();
        return new SparkApps(b.getOrCreate(), !existed);
    }

    public SparkSession session() {
        return session;
    }

    @Override
    public void close() {
        if (owned) session.stop();
    }
}
