package io.instella.core.kernels;

/**
 * Rotary position embedding, "rotate half" convention (GPT-NeoX / HF Llama / OLMo): dimension i is
 * paired with i + d/2. inv_freq and angles are float32 as in the reference: inv_freq[i] =
 * 1 / theta^(2i/d), angle = float(pos) * inv_freq[i], cos/sin of the float angle.
 */
public final class Rope {
    private final int headDim;
    private final float[] invFreq;
    private volatile float[] cos = new float[0];
    private volatile float[] sin = new float[0];
    private volatile int cachedPositions;

    public Rope(int headDim, double theta) {
        if (headDim % 2 != 0) throw new IllegalArgumentException("RoPE head dimension must be even: " + headDim);
        this.headDim = headDim;
        this.invFreq = new float[headDim / 2];
        for (int i = 0; i < headDim / 2; i++) {
            float exponent = (float) (2 * i) / headDim;           // arange(0, d, 2).float() / d
            float base = (float) Math.pow(theta, exponent);        // theta ** exponent in float32
            invFreq[i] = 1.0f / base;
        }
    }

    public float[] invFreq() { return invFreq.clone(); }

    private synchronized void ensure(int positions) {
        if (positions <= cachedPositions) return;
        int cap = Math.max(positions, Math.max(64, cachedPositions * 2));
        int half = headDim / 2;
        float[] c = new float[cap * half], s = new float[cap * half];
        for (int p = 0; p < cap; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i];
                c[p * half + i] = (float) Math.cos(angle);
                s[p * half + i] = (float) Math.sin(angle);
            }
        }
        cos = c;
        sin = s;
        cachedPositions = cap;
    }

    /** Rotates n rows of x (each row = numHeads heads of headDim) at positions startPos.. in place. */
    public void apply(float[] x, int n, int numHeads, int startPos) {
        apply(x, 0, n, numHeads, startPos);
    }

    /** Rotates n rows of x starting at xOff (each row = numHeads heads of headDim) at positions startPos.. in place. */
    public void apply(float[] x, int xOff, int n, int numHeads, int startPos) {
        ensure(startPos + n);
        final float[] c = cos, s = sin;
        int half = headDim / 2;
        int rowWidth = numHeads * headDim;
        Parallel.forRange(n, Math.max(1, 4096 / rowWidth), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = (startPos + r) * half;
                for (int h = 0; h < numHeads; h++) {
                    int off = xOff + r * rowWidth + h * headDim;
                    for (int i = 0; i < half; i++) {
                        float x1 = x[off + i], x2 = x[off + i + half];
                        float cv = c[base + i], sv = s[base + i];
                        x[off + i] = x1 * cv - x2 * sv;
                        x[off + i + half] = x2 * cv + x1 * sv;
                    }
                }
            }
        });
    }

    /**
     * Backward of {@link #apply}: the rotation is orthogonal, so the gradient is rotated back (by the negative
     * angle), in place.
     */
    public void applyBackward(float[] dx, int xOff, int n, int numHeads, int startPos) {
        ensure(startPos + n);
        final float[] c = cos, s = sin;
        int half = headDim / 2;
        int rowWidth = numHeads * headDim;
        Parallel.forRange(n, Math.max(1, 4096 / rowWidth), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int base = (startPos + r) * half;
                for (int h = 0; h < numHeads; h++) {
                    int off = xOff + r * rowWidth + h * headDim;
                    for (int i = 0; i < half; i++) {
                        float d1 = dx[off + i], d2 = dx[off + i + half];
                        float cv = c[base + i], sv = s[base + i];
                        dx[off + i] = d1 * cv + d2 * sv;
                        dx[off + i + half] = d2 * cv - d1 * sv;
                    }
                }
            }
        });
    }
}
