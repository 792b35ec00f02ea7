package io.instella.api;

import io.instella.hub.ConsoleProgressBar;
import io.instella.hub.DownloadListener;

import java.nio.file.Path;

/**
 * How {@link InstellaModel#load(String, LoadOptions)} loads a model.
 *
 * @param downloadListener progress of Hub downloads (null: silent)
 * @param contextLength    tokens of context (prompt and answer) at most; null: the model's own (32768 for
 *                         Instella-VL-1B). The key/value cache grows with use, up to this length.
 * @param quantization     "q8_0" or "q4_0" to quantize the projection weights at load time (llama.cpp block
 *                         layouts); null: the weights as stored
 * @param kvCache          "f16" or "f32": the element type of the key/value cache; null: f16 for quantized
 *                         weights (as llama.cpp), f32 (exact) otherwise
 * @param lora             a LoRA adapter directory in peft's layout (adapter_config.json, adapter_model.safetensors)
 *                         merged into the weights at load time (before any quantization); null: none
 */
public record LoadOptions(DownloadListener downloadListener, Integer contextLength, String quantization, String kvCache,
                          Path lora) {

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException when a value is not one the parameter lists
     */
    public LoadOptions {
        if (contextLength != null && contextLength < 2) {
            throw new IllegalArgumentException("contextLength must be at least 2, got " + contextLength);
        }
        if (quantization != null && !quantization.matches("(?i)q8_0|q4_0|q8|q4")) {
            throw new IllegalArgumentException("quantization must be q8_0 or q4_0, got " + quantization);
        }
        if (kvCache != null && !kvCache.matches("(?i)f16|f32")) {
            throw new IllegalArgumentException("kvCache must be f16 or f32, got " + kvCache);
        }
    }

    /**
     * Without a LoRA adapter (the four settings this record had before adapters).
     *
     * @param downloadListener progress of Hub downloads (null: silent)
     * @param contextLength    tokens of context at most (null: the model's own)
     * @param quantization     "q8_0" or "q4_0" (null: the weights as stored)
     * @param kvCache          "f16" or "f32" (null: by weight type)
     */
    public LoadOptions(DownloadListener downloadListener, Integer contextLength, String quantization, String kvCache) {
        this(downloadListener, contextLength, quantization, kvCache, null);
    }

    /**
     * Silent downloads, the model's own context length.
     *
     * @return options with every field unset
     */
    public static LoadOptions defaults() {
        return new LoadOptions(null, null, null, null, null);
    }

    /**
     * A copy reporting download progress to {@code listener}.
     *
     * @param listener receives download progress (null: silent)
     * @return the new options
     */
    public LoadOptions withDownloadListener(DownloadListener listener) {
        return new LoadOptions(listener, contextLength, quantization, kvCache, lora);
    }

    /**
     * A download progress bar on stderr (redrawn in place on a terminal, a line every 10 s otherwise).
     *
     * @return the new options
     */
    public LoadOptions withConsoleProgress() {
        return new LoadOptions(new ConsoleProgressBar(), contextLength, quantization, kvCache, lora);
    }

    /**
     * A copy with another context length.
     *
     * @param tokens tokens of context (prompt and answer) at most; at least 2
     * @return the new options
     */
    public LoadOptions withContextLength(int tokens) {
        return new LoadOptions(downloadListener, tokens, quantization, kvCache, lora);
    }

    /**
     * Quantize the projection weights at load time.
     *
     * @param type "q8_0" or "q4_0" (null: as stored)
     * @return the new options
     */
    public LoadOptions withQuantization(String type) {
        return new LoadOptions(downloadListener, contextLength, type, kvCache, lora);
    }

    /**
     * The key/value cache's element type.
     *
     * @param type "f16" (half the memory and decode reads) or "f32" (exact); null: f16 for quantized weights
     * @return the new options
     */
    public LoadOptions withKvCache(String type) {
        return new LoadOptions(downloadListener, contextLength, quantization, type, lora);
    }

    /**
     * Merge the LoRA adapter in {@code adapterDir} (peft's layout) into the weights at load time, each merged weight
     * kept in the checkpoint's own type.
     *
     * @param adapterDir the adapter directory (null: no adapter)
     * @return the new options
     */
    public LoadOptions withLora(Path adapterDir) {
        return new LoadOptions(downloadListener, contextLength, quantization, kvCache, adapterDir);
    }
}
