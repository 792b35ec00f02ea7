package io.instella.train.data;

import java.nio.file.Path;
import java.util.List;

/**
 * A LLaVA-format record as read from a data file, before preprocessing.
 *
 * @param location      where it is, for messages: "file:line" (jsonl) or "file#index" (json array, parquet)
 * @param id            its "id" as text, or its 0-based position in its file when it has none
 * @param images        its images in order (empty for a text-only record)
 * @param hasImage      whether the record has an "image" field (upstream's {@code "image" in record}); a null
 *                      "image" counts as absent
 * @param conversations the messages, in order
 */
public record LlavaRecord(String location, String id, List<ImageRef> images, boolean hasImage,
                          List<Message> conversations) {

    public LlavaRecord {
        images = List.copyOf(images);
        conversations = List.copyOf(conversations);
    }

    /** One message: {@code from} is "human" or "gpt" in valid data. */
    public record Message(String from, String value) {}

    /** Where an image's bytes are. */
    public sealed interface ImageRef {
        /** How the image is named in messages. */
        String name();
    }

    /** An image file ({@code image_folder} joined with the record's relative path). */
    public record FileImage(Path path, String name) implements ImageRef {}

    /** Encoded image bytes held by the data file itself (a parquet image column). */
    public record BytesImage(byte[] bytes, String name) implements ImageRef {}
}
