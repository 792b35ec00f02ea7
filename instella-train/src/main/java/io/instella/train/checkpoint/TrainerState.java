package io.instella.train.checkpoint;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code trainer_state.json} in the Hugging Face Trainer's format ({@code transformers.TrainerState}): the step,
 * epoch and the log history, plus this project's summary of skipped data records ({@code skipped_records}).
 * Unknown keys read from a file are kept and written back.
 */
@JsonPropertyOrder({"best_metric", "best_model_checkpoint", "epoch", "eval_steps", "global_step", "is_hyper_param_search",
        "is_local_process_zero", "is_world_process_zero", "log_history", "logging_steps", "max_steps", "num_input_tokens_seen",
        "num_train_epochs", "save_steps", "total_flos", "train_batch_size", "trial_name", "trial_params", "skipped_records"})
@JsonInclude(JsonInclude.Include.ALWAYS)
public final class TrainerState {
    @JsonProperty("best_metric") public Double bestMetric;
    @JsonProperty("best_model_checkpoint") public String bestModelCheckpoint;
    /** Fractional epoch reached (global_step / steps per epoch). */
    @JsonProperty("epoch") public double epoch;
    @JsonProperty("eval_steps") public Integer evalSteps;
    /** Optimizer steps done. */
    @JsonProperty("global_step") public long globalStep;
    @JsonProperty("is_hyper_param_search") public boolean isHyperParamSearch;
    @JsonProperty("is_local_process_zero") public boolean isLocalProcessZero = true;
    @JsonProperty("is_world_process_zero") public boolean isWorldProcessZero = true;
    /** One entry per logged step: {step, epoch, loss, learning_rate, grad_norm, ...} (eval entries too). */
    @JsonProperty("log_history") public List<Map<String, Object>> logHistory = new ArrayList<>();
    @JsonProperty("logging_steps") public int loggingSteps = 1;
    @JsonProperty("max_steps") public long maxSteps;
    @JsonProperty("num_input_tokens_seen") public long numInputTokensSeen;
    @JsonProperty("num_train_epochs") public double numTrainEpochs;
    @JsonProperty("save_steps") public long saveSteps;
    @JsonProperty("total_flos") public double totalFlos;
    @JsonProperty("train_batch_size") public int trainBatchSize;
    @JsonProperty("trial_name") public String trialName;
    @JsonProperty("trial_params") public Object trialParams;
    /** Records skipped as unreadable (summary: counts by reason, examples with file/line/id); null when none. */
    @JsonProperty("skipped_records") public Object skippedRecords;

    private final Map<String, Object> other = new LinkedHashMap<>();

    @JsonAnySetter
    void setOther(String key, Object value) { other.put(key, value); }

    /** Keys this class does not model, kept as read. */
    @JsonAnyGetter
    public Map<String, Object> other() { return other; }

    /**
     * Appends a training-step entry as the HF Trainer logs it (keys in its order: epoch, grad_norm, learning_rate,
     * loss, step); a NaN grad norm or loss is kept (written as NaN, as Python's json does).
     */
    public Map<String, Object> logStep(long step, double epoch, double loss, double learningRate, double gradNorm) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("epoch", epoch);
        e.put("grad_norm", gradNorm);
        e.put("learning_rate", learningRate);
        e.put("loss", loss);
        e.put("step", step);
        logHistory.add(e);
        return e;
    }

    /** Appends any entry (e.g. {eval_loss, step, epoch}). */
    public void log(Map<String, Object> entry) {
        logHistory.add(new LinkedHashMap<>(entry));
    }
}
