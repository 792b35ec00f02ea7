package io.instella.eval.run;

import java.util.List;

/**
 * The model as the benchmarks see it, mirroring lmms-eval's {@code instellavl} adapter: given the task's
 * context ({@code doc_to_text} output) and the document's images (encoded files as stored in the dataset, e.g.
 * PNG or JPEG bytes), it prepends one {@code "<image>"} per image and a newline (when the context has none),
 * applies the {@code instella} chat template, generates with the settings and returns the decoded text
 * (special tokens skipped) stripped of surrounding whitespace.
 */
@FunctionalInterface
public interface EvalModel {
    String generate(String context, List<byte[]> encodedImages, GenerationSettings settings);
}
