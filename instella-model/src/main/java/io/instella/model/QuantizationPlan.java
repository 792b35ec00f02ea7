package io.instella.model;

import io.instella.core.safetensors.MappedMemory;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * Which weights a requested quantization (Q8_0 or Q4_0) turns into which block type; the one place both
 * load-time quantization ({@code --quant}) and {@code instella quantize} ask, so the two give the same model.
 * <ul>
 *   <li>Language-model v/o/gate/up/down projections and the vision tower's projections: the requested type.</li>
 *   <li>Language-model q/k projections: kept as stored under Q8_0 (on the golden cases, quantizing q_proj or
 *       k_proj alone pushes Q8_0's logit RMS error past 2%: attention scores amplify their error); Q4_0 under
 *       Q4_0, as llama.cpp's Q4_0 does, which has no such bound and where 16-bit q/k would be a quarter of
 *       the bytes a decode step reads.</li>
 *   <li>The output head ({@code lm_head.weight}; for a tied model a quantized copy of the embeddings, which stay
 *       wide for the row lookups): Q8_0 under Q4_0, where it is the largest single matrix a decode step reads
 *       (vocab × hidden; llama.cpp likewise keeps it wider than Q4_0); as stored under Q8_0, whose logit RMS
 *       error on the golden cases is already 1.1–1.85% of the 2% bound (a Q8_0 head adds about 0.1%).</li>
 *   <li>Embeddings, norms, biases, the projector and {@code image_newline}: as stored.</li>
 * </ul>
 */
public record QuantizationPlan(DType requested) {
    /** Name the output head is looked up under; for tied models the quantized copy is stored under it too. */
    public static final String HEAD = "lm_head.weight";

    private static final Pattern LM_QK = Pattern.compile("^model\\.layers\\.\\d+\\.self_attn\\.[qk]_proj\\.weight$");
    private static final Pattern LM_OTHER = Pattern.compile("^model\\.layers\\.\\d+\\.(self_attn\\.[vo]_proj|mlp\\.(gate|up|down)_proj)\\.weight$");
    private static final Pattern VISION = Pattern.compile(
            "^model\\.vision_tower\\.vision_tower\\.vision_model\\.encoder\\.layers\\.\\d+\\.(self_attn\\.(q|k|v|out)_proj|mlp\\.fc[12])\\.weight$");

    public QuantizationPlan {
        if (requested == null || !requested.isQuantized()) {
            throw new InstellaException("cannot quantize weights to " + requested + " (choose q8_0 or q4_0)");
        }
    }

    /** The block type the weight named {@code name} gets, or null when it stays as stored. */
    public DType typeFor(String name) {
        if (LM_OTHER.matcher(name).matches() || VISION.matcher(name).matches()) return requested;
        if (LM_QK.matcher(name).matches()) return requested == DType.Q4_0 ? DType.Q4_0 : null;
        if (name.equals(HEAD)) return requested == DType.Q4_0 ? DType.Q8_0 : null;
        return null;
    }

    /**
     * The type a weight is stored as: {@link #typeFor}, except that the language model's Q4_0 and Q8_0 matrices
     * (rows a multiple of 8) are stored as {@link DType#Q4_0_R8} / {@link DType#Q8_0_R8}, the row-interleaved
     * layouts its decode kernels read, so an ahead-of-time file loads by mmap alone (a repack at load needs fresh
     * memory of the weights' size: ~600 MB for Q4_0, 0.4–0.9 s).
     */
    public DType storedTypeFor(Tensor t) {
        DType type = typeFor(t.name());
        boolean languageModel = LM_QK.matcher(t.name()).matches() || LM_OTHER.matcher(t.name()).matches() || t.name().equals(HEAD);
        return type != null && type.interleaved() != null && languageModel && t.dim(0) % Quant.R8_ROWS == 0 ? type.interleaved() : type;
    }

    /** True when the tensor would be quantized: a wide 2-D matrix whose rows are whole blocks. */
    public boolean quantizes(Tensor t) {
        return typeFor(t.name()) != null && t.rank() == 2 && t.dtype().isFloatingPoint() && t.dim(1) % Quant.BLOCK == 0;
    }

    /**
     * The weight transform for loading: quantizes each weight the plan names into {@code arena} and lets the
     * stored copy's pages go (it is not read again; for a tied head, the embedding table is from then on
     * only read a row at a time, faulted back in as needed). Weights already in block form (an ahead-of-time
     * file) pass through.
     */
    public UnaryOperator<Tensor> atLoad(Arena arena) {
        return w -> {
            if (!quantizes(w)) return w;
            Tensor q = Quant.quantize(w, typeFor(w.name()), arena);
            MappedMemory.release(w.data());
            return q;
        };
    }

    /**
     * The weight transform for the language model's projections and head: quantized as {@code quantize} says
     * (null: as stored), and, when {@code repackR8} (the native kernels run), every Q4_0 and Q8_0 matrix —
     * quantized here or read from an ahead-of-time file — interleaved by 8 rows ({@link DType#Q4_0_R8},
     * {@link DType#Q8_0_R8}), the layouts the native decode kernels read 8 rows at a time in. The plain form is
     * not kept: a file's pages are released, a load-time quantization goes through a temporary arena.
     */
    public static UnaryOperator<Tensor> languageModelAtLoad(DType quantize, Arena arena, boolean repackR8) {
        QuantizationPlan plan = quantize == null ? null : new QuantizationPlan(quantize);
        return w -> {
            boolean repack = repackR8 && w.rank() == 2 && w.dim(0) % Quant.R8_ROWS == 0;
            if (plan != null && plan.quantizes(w)) {
                DType type = plan.typeFor(w.name());
                Tensor out;
                if (repack && type.interleaved() != null) {
                    try (Arena scratch = Arena.ofShared()) {
                        out = Quant.repackR8(Quant.quantize(w, type, scratch), arena);
                    }
                } else {
                    out = Quant.quantize(w, type, arena);
                }
                MappedMemory.release(w.data());
                return out;
            }
            if (repack && (w.dtype() == DType.Q4_0 || w.dtype() == DType.Q8_0)) {
                Tensor out = Quant.repackR8(w, arena);
                MappedMemory.release(w.data());
                return out;
            }
            if (!repackR8 && w.dtype().isInterleaved()) {
                // An ahead-of-time file read where the native kernels do not run: back to Q4_0/Q8_0 for the Java kernels.
                Tensor out = Quant.unpackR8(w, arena);
                MappedMemory.release(w.data());
                return out;
            }
            return w;
        };
    }
}
