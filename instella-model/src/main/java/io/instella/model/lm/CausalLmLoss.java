package io.instella.model.lm;

import io.instella.core.kernels.LinearBackward;
import io.instella.core.kernels.MatMul;
import io.instella.core.kernels.Parallel;
import io.instella.core.tensor.Tensor;

import java.util.function.Function;

/**
 * {@code OlmoForCausalLM}'s loss and its gradient: float32 logits of the head, shifted by one
 * (row r predicts label r + 1), cross-entropy summed over the targets that are not -100. Only rows with a target
 * need logits (every other row's logits get no gradient), so logits are computed for those rows alone, in blocks.
 * The caller divides by the micro-batch's target count (PyTorch's mean over all targets of the batch).
 */
public final class CausalLmLoss {
    public static final int IGNORE_INDEX = -100;
    /** Rows of logits held at once ([rows, vocab] floats). */
    private static final int BLOCK_ROWS = 128;

    private CausalLmLoss() {}

    /**
     * @param sum     Σ over targets of −log softmax(logits)[target]
     * @param targets how many targets counted
     * @param dHidden gradient of the head's input, [n, hidden]: (softmax − onehot)·scale·W for target rows, 0 elsewhere
     */
    public record Result(double sum, int targets, float[] dHidden) {}

    /** Rows of a sequence whose next label is a target. */
    public static int targets(int[] labels, int n) {
        int count = 0;
        for (int r = 0; r + 1 < n; r++) if (labels[r + 1] != IGNORE_INDEX) count++;
        return count;
    }

    /**
     * @param hidden    the final LayerNorm's output [n, hidden]
     * @param labels    labels of the n rows (the merged sequence's, image rows -100)
     * @param scale     the gradient's factor (1 / the micro-batch's target count)
     * @param gradients the head weight's gradient array by name (null = frozen)
     */
    public static Result compute(OlmoModel model, float[] hidden, int n, int[] labels, double scale,
                                 Function<String, float[]> gradients) {
        int h = model.config().hiddenSize(), vocab = model.config().vocabSize();
        Tensor head = model.lmHead();
        int[] rows = new int[targets(labels, n)];
        int count = 0;
        for (int r = 0; r + 1 < n; r++) if (labels[r + 1] != IGNORE_INDEX) rows[count++] = r;
        float[] dHidden = new float[n * h];
        float[] dHead = gradients.apply(head.name());
        double sum = 0;
        for (int b0 = 0; b0 < rows.length; b0 += BLOCK_ROWS) {
            int m = Math.min(BLOCK_ROWS, rows.length - b0);
            float[] x = new float[m * h];
            for (int i = 0; i < m; i++) System.arraycopy(hidden, rows[b0 + i] * h, x, i * h, h);
            float[] logits = new float[m * vocab];
            MatMul.linear(x, 0, m, head, null, logits, 0);
            for (int i = 0; i < m; i++) {
                int target = labels[rows[b0 + i] + 1];
                if (target < 0 || target >= vocab) {
                    throw new IllegalArgumentException("label " + target + " is outside the vocabulary (0.." + (vocab - 1) + ")");
                }
            }
            // Rows in parallel; each row's loss lands in its own slot and the slots are summed in row order below.
            double[] rowLoss = new double[m];
            int block = b0;
            Parallel.forRange(m, 1, (i0, i1) -> {
                for (int i = i0; i < i1; i++) rowLoss[i] = softmaxGradient(logits, i * vocab, vocab, labels[rows[block + i] + 1], scale);
            });
            for (double l : rowLoss) sum += l;
            float[] dx = new float[m * h];
            LinearBackward.inputGrad(logits, m, head, dx, false);
            for (int i = 0; i < m; i++) System.arraycopy(dx, i * h, dHidden, rows[b0 + i] * h, h);
            if (dHead != null) LinearBackward.weightGrad(logits, x, m, vocab, h, dHead, null);
        }
        return new Result(sum, rows.length, dHidden);
    }

    /**
     * One row of logits at off → d loss / d logit_j = (softmax_j − [j = target]) · scale, in place; returns the row's
     * loss lse − logit[target].
     */
    private static double softmaxGradient(float[] logits, int off, int vocab, int target, double scale) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) max = Math.max(max, logits[off + j]);
        double z = 0;
        for (int j = 0; j < vocab; j++) z += Math.exp(logits[off + j] - max);
        double lse = max + Math.log(z);
        double loss = lse - logits[off + target];
        for (int j = 0; j < vocab; j++) logits[off + j] = (float) (Math.exp(logits[off + j] - lse) * scale);
        logits[off + target] -= (float) scale;
        return loss;
    }
}
