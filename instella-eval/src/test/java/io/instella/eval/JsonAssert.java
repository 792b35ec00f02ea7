package io.instella.eval;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Compares JSON values as lmms-eval output is compared: same structure and key order, ints stay ints and floats
 * stay floats (Python types are kept), floats equal within 1e-9, strings exactly.
 */
public final class JsonAssert {
    private JsonAssert() {}

    public static final double TOLERANCE = 1e-9;

    public static void assertJsonEquals(JsonNode expected, JsonNode actual, String where) {
        List<String> problems = new ArrayList<>();
        compare(expected, actual, where, problems);
        if (!problems.isEmpty()) fail(String.join("\n", problems) + "\nexpected: " + expected + "\nactual:   " + actual);
    }

    private static void compare(JsonNode e, JsonNode a, String path, List<String> problems) {
        if (e == null || a == null) {
            if (e != a) problems.add(path + ": expected " + e + " but was " + a);
            return;
        }
        if (e.isNumber() && a.isNumber()) {
            if (e.isIntegralNumber() != a.isIntegralNumber()) {
                problems.add(path + ": expected " + (e.isIntegralNumber() ? "int " : "float ") + e + " but was "
                        + (a.isIntegralNumber() ? "int " : "float ") + a);
                return;
            }
            double ev = e.doubleValue();
            double av = a.doubleValue();
            boolean same = (Double.isNaN(ev) && Double.isNaN(av)) || ev == av || Math.abs(ev - av) <= TOLERANCE;
            if (!same) problems.add(path + ": expected " + e + " but was " + a);
            return;
        }
        if (e.getNodeType() != a.getNodeType()) {
            problems.add(path + ": expected " + e.getNodeType() + " " + e + " but was " + a.getNodeType() + " " + a);
            return;
        }
        if (e.isObject()) {
            List<String> ek = new ArrayList<>();
            e.fieldNames().forEachRemaining(ek::add);
            List<String> ak = new ArrayList<>();
            a.fieldNames().forEachRemaining(ak::add);
            if (!ek.equals(ak)) {
                problems.add(path + ": keys " + ak + " differ from expected " + ek);
                return;
            }
            for (String k : ek) compare(e.get(k), a.get(k), path + "." + k, problems);
        } else if (e.isArray()) {
            if (e.size() != a.size()) {
                problems.add(path + ": expected " + e.size() + " elements but was " + a.size());
                return;
            }
            Iterator<JsonNode> ei = e.elements();
            Iterator<JsonNode> ai = a.elements();
            int i = 0;
            while (ei.hasNext()) compare(ei.next(), ai.next(), path + "[" + i++ + "]", problems);
        } else if (!e.equals(a)) {
            problems.add(path + ": expected " + e + " but was " + a);
        }
    }
}
