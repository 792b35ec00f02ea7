package io.instella.eval.tasks;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** The 14 tasks of the Instella-VL-1B results table, in the table's column order. */
public final class Tasks {
    private Tasks() {}

    private static final Map<String, Supplier<EvalTask>> ALL = new LinkedHashMap<>();

    static {
        ALL.put("gqa", GqaTask::new);
        ALL.put("scienceqa_img", ScienceQaImgTask::new);
        ALL.put("pope", PopeTask::new);
        ALL.put("mmbench_en_dev", MmbenchEnDevTask::new);
        ALL.put("seedbench", SeedbenchTask::new);
        ALL.put("mmmu_val", MmmuValTask::new);
        ALL.put("realworldqa", RealWorldQaTask::new);
        ALL.put("mmstar", MmstarTask::new);
        ALL.put("ocrbench", OcrbenchTask::new);
        ALL.put("textvqa_val", TextvqaValTask::new);
        ALL.put("ai2d", Ai2dTask::new);
        ALL.put("chartqa", ChartqaTask::new);
        ALL.put("docvqa_val", AnlsTask::docvqaVal);
        ALL.put("infovqa_val", AnlsTask::infovqaVal);
    }

    /** Task names in table order. */
    public static List<String> names() {
        return List.copyOf(ALL.keySet());
    }

    /** The columns of the general-benchmark average (the first 8 tasks). */
    public static List<String> generalTasks() {
        return names().subList(0, 8);
    }

    /** The columns of the OCR/chart/document average (the last 6 tasks). */
    public static List<String> ocrTasks() {
        return names().subList(8, 14);
    }

    /** A fresh task instance; throws IllegalArgumentException listing the known names. */
    public static EvalTask byName(String name) {
        Supplier<EvalTask> s = ALL.get(name);
        if (s == null) {
            throw new IllegalArgumentException("unknown task '" + name + "'; known tasks: " + String.join(", ", ALL.keySet()));
        }
        return s.get();
    }
}
