package io.instella.model.projector;

import io.instella.core.kernels.Activations;
import io.instella.core.kernels.MatMul;
import io.instella.core.safetensors.Checkpoint;
import io.instella.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The multimodal projector {@code mlpNx_gelu} (Instella: N = 2): Linear(mm_hidden → hidden), then
 * (exact erf GELU, Linear(hidden → hidden)) × (N − 1), all with biases; {@code linear} is one Linear.
 * Tensor names follow the nn.Sequential indices: {@code model.mm_projector.0, .2, .4, ...}.
 */
public final class MlpProjector {
    public static final String PREFIX = "model.mm_projector.";
    private static final Pattern MLP = Pattern.compile("^mlp(\\d+)x_gelu$");

    private final Tensor[] weights;
    private final float[][] biases;
    private final int outDim;

    public MlpProjector(String type, int inDim, int outDim, Checkpoint ckpt) {
        int depth = depth(type);
        this.outDim = outDim;
        this.weights = new Tensor[depth];
        this.biases = new float[depth][];
        for (int i = 0; i < depth; i++) {
            int in = i == 0 ? inDim : outDim;
            weights[i] = ckpt.get(PREFIX + (2 * i) + ".weight", outDim, in);
            biases[i] = ckpt.get(PREFIX + (2 * i) + ".bias", outDim).toFloatArray();
        }
    }

    static int depth(String type) {
        if ("linear".equals(type)) return 1;
        Matcher m = MLP.matcher(type);
        if (!m.matches()) throw new IllegalArgumentException("unsupported projector type " + type);
        return Integer.parseInt(m.group(1));
    }

    public static List<String> tensorNames(String type) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < depth(type); i++) {
            names.add(PREFIX + (2 * i) + ".weight");
            names.add(PREFIX + (2 * i) + ".bias");
        }
        return names;
    }

    public int outDim() { return outDim; }

    public long weightBytes() {
        long b = 0;
        for (int i = 0; i < weights.length; i++) b += weights[i].byteSize() + 4L * biases[i].length;
        return b;
    }

    /** Projects n rows of vision features ([n, inDim]) to [n, outDim]. */
    public float[] forward(float[] features, int n) {
        float[] x = new float[n * outDim];
        MatMul.linear(features, n, weights[0], biases[0], x);
        for (int i = 1; i < weights.length; i++) {
            Activations.gelu(x, n * outDim);
            float[] y = new float[n * outDim];
            MatMul.linear(x, n, weights[i], biases[i], y);
            x = y;
        }
        return x;
    }

    /**
     * The forward pass kept for {@link #backward}: the pre-activation of every hidden layer (GELU's input) and the
     * output. acts[i] is Linear i's output; the last one is the projector's output.
     */
    public float[][] forwardTraining(float[] features, int n) {
        float[][] acts = new float[weights.length][];
        float[] x = features;
        for (int i = 0; i < weights.length; i++) {
            float[] y = new float[n * outDim];
            float[] in = x;
            if (i > 0) {
                in = x.clone();
                Activations.gelu(in, n * outDim);
            }
            MatMul.linear(in, n, weights[i], biases[i], y);
            acts[i] = y;
            x = y;
        }
        return acts;
    }

    /**
     * Backward of {@link #forwardTraining}: accumulates the trained weights' and biases' gradients (by checkpoint
     * name; null = frozen) and returns the gradient of the input features, or null when {@code inputGradient} is false.
     */
    public float[] backward(float[] features, float[][] acts, float[] dOut, int n,
                            java.util.function.Function<String, float[]> gradients, boolean inputGradient) {
        float[] dy = dOut;
        for (int i = weights.length - 1; i >= 0; i--) {
            float[] in;
            if (i > 0) {
                in = acts[i - 1].clone();
                Activations.gelu(in, n * outDim);
            } else {
                in = features;
            }
            float[] dW = gradients.apply(weights[i].name());
            float[] dB = gradients.apply(PREFIX + (2 * i) + ".bias");
            int inDim = (int) weights[i].dim(1);
            if (dW != null || dB != null) io.instella.core.kernels.LinearBackward.weightGrad(dy, in, n, outDim, inDim, dW, dB);
            if (i == 0 && !inputGradient) return null;
            float[] dx = new float[n * inDim];
            io.instella.core.kernels.LinearBackward.inputGrad(dy, n, weights[i], dx, false);
            if (i > 0) Activations.geluBackward(acts[i - 1], dx, n * inDim);
            dy = dx;
        }
        return dy;
    }
}
