package io.instella.train.checkpoint;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes more files into a checkpoint (or final model) directory while it is still the temporary one, before it
 * is renamed into place: e.g. the PEFT adapter files ({@code adapter_config.json}, {@code adapter_model.safetensors}).
 * Whatever it writes becomes part of the atomic save; an exception aborts the save and leaves the previous
 * checkpoint as it was.
 */
@FunctionalInterface
public interface ExtraFilesWriter {
    void writeInto(Path directory) throws IOException;
}
