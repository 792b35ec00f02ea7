package io.instella.model;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Ahead-of-time quantization ({@code instella quantize}): a copy of a checkpoint directory whose
 * language-model and vision-tower projection weights are stored as llama.cpp Q8_0/Q4_0 blocks (U8
 * tensors plus {@code quant.<name>} metadata, see {@link io.instella.core.safetensors.SafeTensorsFile}),
 * everything else as stored. Loading it maps the blocks in place: no conversion at load time.
 */
public final class QuantizedCheckpoint {
    /**
     * The weights that are quantized: exactly those the model's constructors quantize at load time (the
     * language model's q/k projections stay wide, see {@link io.instella.model.lm.OlmoModel}).
     */
    private static final Pattern PROJECTION = Pattern.compile(
            "^model\\.layers\\.\\d+\\.(self_attn\\.[vo]_proj|mlp\\.(gate|up|down)_proj)\\.weight$"
                    + "|^model\\.vision_tower\\.vision_tower\\.vision_model\\.encoder\\.layers\\.\\d+\\.(self_attn\\.(q|k|v|out)_proj|mlp\\.fc[12])\\.weight$");

    private QuantizedCheckpoint() {}

    public static boolean isQuantizedProjection(String name) {
        return PROJECTION.matcher(name).matches();
    }

    /**
     * Writes {@code out} (a directory) from {@code source}: config and tokenizer files copied, weights in one
     * model.safetensors. Returns the bytes of tensor data written.
     */
    public static long write(Path source, Path out, DType type) throws IOException {
        if (type == null || !type.isQuantized()) throw new InstellaException("quantize to q8_0 or q4_0, not " + type);
        if (!Files.isDirectory(source)) throw new InstellaException(source + ": no such model directory");
        if (source.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new InstellaException("--out must differ from --model (the source weights are read while writing)");
        }
        Files.createDirectories(out);
        copyNonWeightFiles(source, out);
        long bytes = 0;
        try (Checkpoint ckpt = Checkpoint.open(source)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            ckpt.metadata().forEach((k, v) -> {
                if (!k.startsWith("quant.")) w.metadata(k, v);
            });
            w.metadata("instella.quantization", type.name());
            for (String name : ckpt.names()) {
                Tensor t = ckpt.get(name);
                if (isQuantizedProjection(name) && t.rank() == 2 && t.dtype().isFloatingPoint() && t.dim(1) % Quant.BLOCK == 0) {
                    w.addQuantized(name, type, t.shape(), () -> Quant.quantize(t, type, Arena.ofAuto()).data());
                    bytes += t.dim(0) * type.bytesFor(t.dim(1));
                } else {
                    w.add(t);
                    bytes += t.byteSize();
                }
            }
            w.write(out.resolve("model.safetensors"));
        }
        return bytes;
    }

    private static void copyNonWeightFiles(Path source, Path out) throws IOException {
        try (Stream<Path> files = Files.walk(source)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) || n.endsWith(".safetensors") || n.equals("model.safetensors.index.json")) continue;
                Path dst = out.resolve(source.relativize(p).toString());
                Files.createDirectories(dst.getParent());
                Files.copy(p, dst, StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
