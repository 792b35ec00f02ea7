package io.instella.train.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;

/** The data and model-input flags `instella train` and `instella train grads` share (upstream's names). */
public final class DataFlags {
    /** The command these flags are mixed into (its name goes into the usage error). */
    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    @Option(names = "--data", paramLabel = "FILE",
            description = "Training records: LLaVA .json array or .jsonl, a Hugging Face parquet file or folder, or a YAML mixture.")
    Path data;

    @Option(names = "--image-folder", paramLabel = "DIR", description = "Folder the records' image paths are relative to.")
    Path imageFolder;

    @Option(names = "--mm-tunable-parts", paramLabel = "PARTS",
            description = "Trained parts, comma-separated: mm_mlp_adapter (projector), mm_vision_tower, mm_language_model; "
                    + "none (LoRA only). Default: the --stage preset's.")
    String tunableParts;

    @Option(names = "--image-aspect-ratio", paramLabel = "MODE", description = "square, anyres or pad (default: the --stage preset's, else the model config's).")
    String aspectRatio;

    @Option(names = "--mm-patch-merge-type", paramLabel = "TYPE", description = "flat or spatial_unpad (default: the --stage preset's, else the model config's).")
    String mergeType;

    @Option(names = "--model-max-length", paramLabel = "N", description = "Longest sequence, image rows included (default: the --stage preset's, else 32768).")
    Integer modelMaxLength;

    @Option(names = "--truncate-long-records", description = "Cut records longer than --model-max-length as upstream does, instead of skipping them.")
    boolean truncate;

    @Option(names = "--strict-data", description = "Stop at the first unusable record instead of skipping and counting it.")
    boolean strict;

    /** --data is required by every command that uses these flags (not by picocli: `instella train grads` is a subcommand). */
    Path requireData() {
        if (data == null) throw new picocli.CommandLine.ParameterException(command.commandLine(), "Missing required option: '--data=FILE'");
        return data;
    }

    @Option(names = "--data-threads", paramLabel = "N", description = "Threads decoding and preprocessing images ahead of the math (default: min(4, cores)).")
    Integer dataThreads;
}
