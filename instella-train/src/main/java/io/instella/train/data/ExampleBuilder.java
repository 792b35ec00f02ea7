package io.instella.train.data;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;

import io.instella.model.image.ImageDecodeException;
import io.instella.model.image.PreprocessedImage;
import io.instella.model.image.RgbImage;
import io.instella.model.tokenizer.Tokenizer;

/**
 * Turns one {@link LlavaRecord} into a {@link TrainingExample} exactly as upstream's {@code _get_item} does, or
 * says in plain words why the record cannot be used. Cheap checks (conversation, placeholders, token length) run
 * before any image is decoded; images are decoded and preprocessed last. Thread-safe.
 */
public final class ExampleBuilder {
    private final InstellaPreprocessor text;
    private final TrainingImageConfig images;
    private final int modelMaxLength;
    private final boolean truncate;
    private final PreprocessedImage dummy;

    /**
     * @param tokenizer      the model's tokenizer
     * @param padTokenId     the pad id (1 for Instella), used by the "tokenization mismatch" rule
     * @param images         the image settings, or null for a text-only run (a model without vision)
     * @param modelMaxLength {@code --model-max-length}
     * @param truncate       false: a record whose merged length exceeds modelMaxLength is skipped; true: kept and
     *                       truncated as upstream does (text-only ids at tokenisation, all ids by the collator)
     */
    public ExampleBuilder(Tokenizer tokenizer, int padTokenId, TrainingImageConfig images, int modelMaxLength,
                          boolean truncate) {
        if (modelMaxLength < 1) throw new DataException("--model-max-length must be positive, got " + modelMaxLength);
        this.text = new InstellaPreprocessor(tokenizer, padTokenId);
        this.images = images;
        this.modelMaxLength = modelMaxLength;
        this.truncate = truncate;
        this.dummy = images == null ? null : images.dummyImage();
    }

    public int modelMaxLength() {
        return modelMaxLength;
    }

    public boolean multimodal() {
        return images != null;
    }

    /** What preprocessing gives before images: the conversation string, ids and labels. */
    public record Text(String conversation, int[] inputIds, int[] labels) {}

    /** Steps 1-4 for a record: conversation string, ids, labels (no image is read). */
    public Text text(LlavaRecord record) throws RecordSkipped {
        List<LlavaRecord.Message> messages = record.conversations();
        if (images != null) messages = InstellaPreprocessor.preprocessMultimodal(messages);
        String conversation;
        try {
            conversation = InstellaPreprocessor.conversation(messages);
        } catch (InstellaPreprocessor.ConversationException e) {
            throw skip(record, e.reason(), e.getMessage());
        }
        boolean hasImage = record.hasImage();
        int[] ids = text.tokenize(conversation, hasImage);
        if (!hasImage && ids.length > modelMaxLength) {
            if (!truncate) throw tooLong(record, ids.length);
            ids = java.util.Arrays.copyOf(ids, modelMaxLength); // upstream's tokenizer(..., truncation=True)
        }
        int[] labels = text.labels(conversation, ids, hasImage, modelMaxLength);
        return new Text(conversation, ids, labels);
    }

    /**
     * The training example of a record.
     *
     * @throws RecordSkipped for a record that cannot be used, with the reason
     * @throws CancellationException when the calling thread was interrupted (the loader is closing)
     */
    public TrainingExample build(LlavaRecord record) throws RecordSkipped {
        try {
            return buildChecked(record);
        } catch (RecordSkipped | CancellationException e) {
            throw e;
        } catch (RuntimeException | StackOverflowError e) {
            if (Thread.currentThread().isInterrupted()) throw new CancellationException("data loading was stopped");
            // A day-long run must not die on one record: anything unexpected becomes a skip naming it.
            String what = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw skip(record, DataReport.Reason.BAD_RECORD, "could not be prepared: " + what);
        }
    }

    private TrainingExample buildChecked(LlavaRecord record) throws RecordSkipped {
        if (record.hasImage() && images == null) {
            throw skip(record, DataReport.Reason.IMAGE_IN_TEXT_ONLY_RUN, "has an image but the model has no vision "
                    + "tower (a text-only run); train a vision model or remove the record");
        }
        Text t = text(record);
        int[] ids = t.inputIds();
        int placeholders = 0;
        for (int id : ids) if (id == InstellaPreprocessor.IMAGE_TOKEN_INDEX) placeholders++;
        int imageCount = record.images().size();
        boolean textOnly;
        if (!record.hasImage()) {
            if (images != null && InstellaPreprocessor.count(t.conversation(), InstellaPreprocessor.IMAGE_TOKEN) > 0) {
                throw skip(record, DataReport.Reason.IMAGE_PLACEHOLDERS, "has an <image> placeholder but no \"image\"");
            }
            textOnly = true;
        } else if (placeholders == imageCount) {
            textOnly = false;
        } else if (placeholders == 0 && imageCount == 1) {
            // Upstream computes this image's features and splices none of them (no placeholder to replace), as
            // for the dummy image of a text-only record; the modality stays "image".
            textOnly = false;
        } else {
            throw skip(record, DataReport.Reason.IMAGE_PLACEHOLDERS, "has " + imageCount + " image"
                    + (imageCount == 1 ? "" : "s") + " but " + placeholders + " <image> placeholder"
                    + (placeholders == 1 ? "" : "s") + " in its conversation");
        }
        if (t.labels().length > 0 && allIgnored(t.labels())) {
            throw skip(record, DataReport.Reason.NO_TRAINED_TOKENS, "no token of it would be trained (no assistant "
                    + "answer, or upstream's \"tokenization mismatch\" rule masked every label)");
        }

        if (images == null) {
            return new TrainingExample(record.id(), record.location(), ids, t.labels(), List.of(), true, ids.length);
        }
        if (!record.hasImage()) {
            return new TrainingExample(record.id(), record.location(), ids, t.labels(), List.of(dummy), true, ids.length);
        }
        String mode = images.modeFor(imageCount);
        List<RgbImage> decoded = new ArrayList<>(imageCount);
        for (LlavaRecord.ImageRef ref : record.images()) decoded.add(decode(record, ref));
        int merged = ids.length - placeholders;
        if (placeholders > 0) {
            for (RgbImage img : decoded) merged += images.imageTokens(img.width(), img.height(), mode);
        }
        if (merged > modelMaxLength && !truncate) throw tooLong(record, merged);
        var preprocessor = images.preprocessor(mode);
        List<PreprocessedImage> pixels = new ArrayList<>(imageCount);
        for (RgbImage img : decoded) pixels.add(preprocessor.preprocess(img));
        return new TrainingExample(record.id(), record.location(), ids, t.labels(), pixels, textOnly, merged);
    }

    private RgbImage decode(LlavaRecord record, LlavaRecord.ImageRef ref) throws RecordSkipped {
        try {
            return switch (ref) {
                case LlavaRecord.FileImage f -> {
                    if (!Files.exists(f.path())) {
                        throw skip(record, DataReport.Reason.MISSING_IMAGE, "image '" + f.name() + "' not found at "
                                + f.path() + " (check --image-folder)");
                    }
                    yield images.decoder().decode(f.path());
                }
                case LlavaRecord.BytesImage b -> images.decoder().decode(b.bytes(), b.name());
            };
        } catch (ImageDecodeException e) {
            if (e.kind() == ImageDecodeException.Kind.CANCELLED || Thread.currentThread().isInterrupted()) {
                throw new CancellationException("data loading was stopped");
            }
            throw skip(record, DataReport.Reason.BAD_IMAGE, "image cannot be decoded: " + e.getMessage());
        }
    }

    private RecordSkipped tooLong(LlavaRecord record, int length) {
        return skip(record, DataReport.Reason.TOO_LONG, "is " + length + " tokens long (text plus image rows), more "
                + "than --model-max-length " + modelMaxLength + "; raise --model-max-length or let long records be "
                + "truncated (--truncate-long-records)");
    }

    private static boolean allIgnored(int[] labels) {
        for (int l : labels) if (l != InstellaPreprocessor.IGNORE_INDEX) return false;
        return true;
    }

    private static RecordSkipped skip(LlavaRecord record, DataReport.Reason reason, String message) {
        return new RecordSkipped(record.location(), record.id(), reason, message);
    }
}
