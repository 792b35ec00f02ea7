package io.instella.model;

import io.instella.core.safetensors.Checkpoint;
import io.instella.core.safetensors.SafeTensorsWriter;
import io.instella.core.tensor.DType;
import io.instella.core.tensor.Quant;
import io.instella.core.tensor.Tensor;
import io.instella.model.config.InstellaConfig;
import io.instella.model.lm.OlmoModel;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;

/**
 * Ahead-of-time quantization ({@code instella quantize}): a copy of a checkpoint directory whose weights
 * are stored as {@link QuantizationPlan} says, in llama.cpp Q8_0/Q4_0 blocks (U8
 * tensors plus {@code quant.<name>} metadata, see {@link io.instella.core.safetensors.SafeTensorsFile}),
 * everything else as stored. Loading it maps the blocks in place: no conversion at load time.
 */
public final class QuantizedCheckpoint {
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
            QuantizationPlan plan = new QuantizationPlan(type);
            for (String name : ckpt.names()) {
                Tensor t = ckpt.get(name);
                if (t.dtype().isQuantized()) {
                    throw new InstellaException(source + " is already quantized (" + name + " is " + t.dtype()
                            + "): quantize the original checkpoint");
                }
                if (plan.quantizes(t)) {
                    bytes += addQuantized(w, plan, t);
                } else {
                    w.add(t);
                    bytes += t.byteSize();
                }
            }
            // A tied model's head is the embedding table, which stays wide for the row lookups: the head's
            // quantized copy is stored beside it under lm_head.weight (the name the loader looks for).
            InstellaConfig config = InstellaConfig.load(source);
            String embed = OlmoModel.PREFIX + "embed_tokens.weight";
            if (config.text().tieWordEmbeddings() && !ckpt.contains(QuantizationPlan.HEAD) && ckpt.contains(embed)) {
                Tensor e = ckpt.get(embed);
                Tensor head = new Tensor(QuantizationPlan.HEAD, e.dtype(), e.shape(), e.data());
                if (plan.quantizes(head)) bytes += addQuantized(w, plan, head);
            }
            w.write(out.resolve("model.safetensors"));
        }
        return bytes;
    }

    private static long addQuantized(SafeTensorsWriter w, QuantizationPlan plan, Tensor t) {
        DType q = plan.typeFor(t.name()), stored = plan.storedTypeFor(t);
        w.addQuantized(t.name(), stored, t.shape(), () -> {
            Tensor blocks = Quant.quantize(t, q, Arena.ofAuto());
            return stored.isInterleaved() ? Quant.repackR8(blocks, Arena.ofAuto()).data() : blocks.data();
        });
        return t.dim(0) * q.bytesFor(t.dim(1));
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
