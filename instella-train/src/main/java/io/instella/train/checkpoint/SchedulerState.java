package io.instella.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import io.instella.train.optim.LrSchedule;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code scheduler.json}: the schedule and how many steps it has taken, with the field names of torch's
 * {@code LambdaLR.state_dict()} where they exist ({@code base_lrs}, {@code last_epoch}, {@code _step_count},
 * {@code _last_lr}) plus the HF schedule's parameters.
 *
 * @param lastEpoch optimizer steps taken (= the 0-based step whose learning rate is next)
 */
public record SchedulerState(LrSchedule schedule, long lastEpoch) {

    static Map<String, Object> toJson(LrSchedule s, long stepsTaken) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("lr_scheduler_type", s.type().hfName());
        m.put("base_lrs", List.of(s.baseLr()));
        m.put("num_warmup_steps", s.warmupSteps());
        m.put("num_training_steps", s.totalSteps());
        if (s.type() == LrSchedule.Type.COSINE) m.put("num_cycles", 0.5);
        m.put("last_epoch", stepsTaken);
        m.put("_step_count", stepsTaken + 1);
        m.put("_last_lr", List.of(s.lr(stepsTaken)));
        return m;
    }

    static SchedulerState fromJson(JsonNode n, Path file) {
        try {
            LrSchedule s = new LrSchedule(LrSchedule.Type.parse(required(n, "lr_scheduler_type", file).asText()),
                    required(n, "base_lrs", file).get(0).asDouble(),
                    required(n, "num_training_steps", file).asLong(), required(n, "num_warmup_steps", file).asLong());
            return new SchedulerState(s, required(n, "last_epoch", file).asLong());
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new CheckpointException(file + ": not a valid scheduler state (" + e.getMessage() + ")", e);
        }
    }

    private static JsonNode required(JsonNode n, String key, Path file) {
        JsonNode v = n == null ? null : n.get(key);
        if (v == null || v.isNull()) throw new CheckpointException(file + ": missing \"" + key + "\"");
        return v;
    }
}
