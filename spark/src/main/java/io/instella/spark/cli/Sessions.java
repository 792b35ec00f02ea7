package io.instella.spark.cli;

import io.instella.spark.SparkSessions;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The generate and bench jobs' --conf KEY=VALUE list, checked, then {@link SparkSessions#start}. */
final class Sessions {
    private Sessions() {
    }

    static boolean isLocal(String master) {
        return SparkSessions.isLocal(master);
    }

    static SparkSessions.Started start(String appName, String master, List<String> confs, PrintWriter err) {
        Map<String, String> conf = new LinkedHashMap<>();
        for (String kv : confs) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new JobException("--conf takes KEY=VALUE (a Spark setting), got '" + kv + "'");
            conf.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        return SparkSessions.start(appName, master, conf, err);
    }
}
