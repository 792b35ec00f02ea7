package io.instella.cli;

import io.instella.api.InstellaModel;
import io.instella.api.LoadOptions;
import picocli.CommandLine.Mixin;

import java.io.PrintWriter;

/** How {@code run}, {@code chat}, {@code generate} and {@code serve} find and load the model. */
final class ModelOptions {
    @Mixin
    CommonOptions.Model model;

    @Mixin
    CommonOptions.Context context;

    @Mixin
    CommonOptions.Threads threads;

    @Mixin
    CommonOptions.Quant quant;

    @Mixin
    CommonOptions.KvCache kvCache;

    @Mixin
    CommonOptions.Lora lora;

    @Mixin
    CommonOptions.Bf16Compute bf16Compute;

    /** The model through the public API (run, chat); download progress on {@code err} unless quiet. */
    InstellaModel load(PrintWriter err, boolean quiet) {
        threads.apply();
        bf16Compute.apply();
        LoadOptions o = LoadOptions.defaults();
        if (!quiet) o = o.withDownloadListener(ModelRefs.progress(err));
        if (context.ctx != null) o = o.withContextLength(context.ctx);
        if (quant.quant != null) o = o.withQuantization(quant.quant);
        if (kvCache.kvCache != null) o = o.withKvCache(kvCache.kvCache);
        if (lora.dir != null) o = o.withLora(lora.dir);
        return InstellaModel.load(model.model, o);
    }
}
