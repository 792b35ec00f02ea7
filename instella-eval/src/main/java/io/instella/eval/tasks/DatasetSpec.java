package io.instella.eval.tasks;

/** A Hugging Face dataset split: repo id (e.g. {@code lmms-lab/GQA}), config name (null = default) and split. */
public record DatasetSpec(String path, String name, String split) {}
