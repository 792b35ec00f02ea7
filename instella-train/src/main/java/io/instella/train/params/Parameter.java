package io.instella.train.params;

import io.instella.core.tensor.DType;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One trained tensor: its float32 master value and its gradient, under the checkpoint's own name. The
 * value's array is what the model reads (through {@link #tensor()}, a view of it), so an optimizer step
 * is seen by the next forward pass without copying.
 */
public final class Parameter {
    private final String name;
    private final long[] shape;
    private final DType storedType;
    private final float[] value;
    private float[] grad;

    public Parameter(String name, long[] shape, DType storedType, float[] value) {
        if (Tensor.numel(shape) != value.length) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " does not hold " + value.length + " values");
        }
        this.name = name;
        this.shape = shape.clone();
        this.storedType = storedType;
        this.value = value;
    }

    /** A float32 master copy of a checkpoint tensor (BF16/F16/F32 widened exactly). */
    public static Parameter copyOf(Tensor t) {
        return new Parameter(t.name(), t.shape(), t.dtype(), t.toFloatArray());
    }

    public String name() { return name; }

    public long[] shape() { return shape.clone(); }

    /** The type the tensor had in the checkpoint it came from (the default save type). */
    public DType storedType() { return storedType; }

    public int size() { return value.length; }

    /** The master value (float32), updated in place by the optimizer. */
    public float[] value() { return value; }

    /** A float32 tensor that aliases {@link #value()}: what the model parts are built from. */
    public Tensor tensor() {
        return new Tensor(name, DType.F32, shape, MemorySegment.ofArray(value));
    }

    /** The gradient accumulated since the last {@link #zeroGrad()}, or null when none has reached it. */
    public float[] grad() { return grad; }

    /** The gradient array, allocated (zeros) on first use. */
    public float[] gradForAccumulation() {
        if (grad == null) grad = new float[value.length];
        return grad;
    }

    /** Forgets the gradient (the next backward pass starts from none, as PyTorch's zero_grad(set_to_none=True)). */
    public void zeroGrad() { grad = null; }

    @Override
    public String toString() { return name + " " + Arrays.toString(shape); }
}
