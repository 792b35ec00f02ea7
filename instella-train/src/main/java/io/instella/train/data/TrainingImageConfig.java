package io.instella.train.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.instella.model.config.InstellaConfig;
import io.instella.model.image.AnyresGeometry;
import io.instella.model.image.ImageDecoder;
import io.instella.model.image.ImagePreprocessor;
import io.instella.model.image.ImageProcessingConfig;
import io.instella.model.image.PreprocessedImage;

/**
 * How a training run turns images into vision-tower input and counts the rows they become in the language model's
 * sequence, as upstream's {@code LazySupervisedDataset.process_image} and {@code prepare_inputs_labels_for_multimodal}
 * do in training (images always arrive as a list there):
 * <ul>
 *   <li>{@code anyres} / {@code anyres_max_N}: base tile + grid tiles; rows from {@link AnyresGeometry#layout};</li>
 *   <li>{@code square}, {@code pad}, and every image of a record with more than one image (upstream overrides the
 *       mode to {@code pad} for those): one tile; {@code flat} merge gives patches² rows, a {@code spatial*} merge
 *       takes the single-tile branch: patches² rows plus one {@code image_newline} row when the merge type contains
 *       {@code unpad}.</li>
 * </ul>
 *
 * @param processing     CLIP processor settings with the run's {@code image_aspect_ratio} and pinpoints
 * @param patchesPerSide vision patches per tile side (24 for CLIP ViT-L/14 at 336)
 * @param mergeType      {@code mm_patch_merge_type}: flat, spatial or spatial_unpad
 * @param decoder        the image decoder (limits on pixels, time, file size)
 */
public record TrainingImageConfig(ImageProcessingConfig processing, int patchesPerSide, String mergeType,
                                  ImageDecoder decoder) {

    public TrainingImageConfig {
        if (patchesPerSide < 1) throw new IllegalArgumentException("patches per side must be positive");
        mergeType = mergeType == null ? "flat" : mergeType;
        if (!mergeType.equals("flat") && !mergeType.startsWith("spatial")) {
            throw new DataException("mm_patch_merge_type '" + mergeType + "' is not supported (flat, spatial, spatial_unpad)");
        }
        if (decoder == null) decoder = ImageDecoder.defaults();
    }

    /** The aspect-ratio mode ({@code square}, {@code pad}, {@code anyres}, {@code anyres_max_N}). */
    public String aspectRatioMode() {
        return processing.aspectRatioMode();
    }

    /** Tile side in pixels (336); also the dummy image's size. */
    public int tileSize() {
        return processing.cropSize();
    }

    /**
     * The training image settings of a model directory ({@code config.json} with its vision tower, as
     * {@code io.instella.model.InstellaVL} loads them): the CLIP {@code preprocessor_config.json} found beside the
     * checkpoint or in the Hugging Face cache, else CLIP's defaults at the tower's input size.
     *
     * @param aspectRatioOverride {@code --image-aspect-ratio} (square, anyres, anyres_max_N, pad), or null for the
     *                            model's {@code image_aspect_ratio}
     * @param mergeTypeOverride   {@code --mm-patch-merge-type}, or null for the model's {@code mm_patch_merge_type}
     * @return the settings, or null when the model has no vision tower (a text-only run)
     */
    public static TrainingImageConfig forModel(Path modelDir, String aspectRatioOverride, String mergeTypeOverride) {
        InstellaConfig config = InstellaConfig.load(modelDir);
        if (!config.hasVision()) return null;
        var mm = config.multimodal();
        String mode = aspectRatioOverride != null ? aspectRatioOverride : mm.imageAspectRatio();
        String merge = mergeTypeOverride != null ? mergeTypeOverride : mm.patchMergeType();
        int size = mm.vision().imageSize();
        ImageProcessingConfig processing = processingConfig(mm.preprocessorConfig(), size, mode, mm.gridPinpoints());
        return new TrainingImageConfig(processing, mm.vision().patchesPerSide(), merge, ImageDecoder.defaults());
    }

    /**
     * The settings for a run that starts from a separate CLIP checkpoint (stage 1 from AMD-OLMo + CLIP): its
     * {@code preprocessor_config.json} (CLIP's defaults at its input size when absent) and {@code config.json}
     * ({@code image_size}, {@code patch_size}, top level or under {@code vision_config}).
     *
     * @param gridPinpoints anyres candidates (width, height); may be null for square and pad
     */
    public static TrainingImageConfig forVisionTower(Path clipDir, String aspectRatio, String mergeType,
                                                     List<int[]> gridPinpoints) {
        Path configFile = clipDir.resolve("config.json");
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(Files.readString(configFile));
        } catch (Exception e) {
            throw new DataException(configFile + ": cannot read the vision tower's config (" + e.getMessage() + ")");
        }
        if (n.has("vision_config") && n.get("vision_config").isObject()) n = n.get("vision_config");
        int imageSize = n.path("image_size").asInt(224);
        int patchSize = n.path("patch_size").asInt(32);
        if (imageSize < 1 || patchSize < 1 || imageSize % patchSize != 0) {
            throw new DataException(configFile + ": image_size " + imageSize + " is not a multiple of patch_size " + patchSize);
        }
        Path pre = clipDir.resolve("preprocessor_config.json");
        ImageProcessingConfig processing = processingConfig(Files.isRegularFile(pre) ? pre : null, imageSize,
                aspectRatio, gridPinpoints == null ? ImageProcessingConfig.INSTELLA_PINPOINTS : gridPinpoints);
        return new TrainingImageConfig(processing, imageSize / patchSize, mergeType, ImageDecoder.defaults());
    }

    private static ImageProcessingConfig processingConfig(Path preprocessorConfig, int towerSize, String mode,
                                                          List<int[]> pinpoints) {
        checkMode(mode);
        try {
            if (preprocessorConfig != null) {
                return ImageProcessingConfig.fromPreprocessorConfig(preprocessorConfig, mode, pinpoints);
            }
            ImageProcessingConfig clip = ImageProcessingConfig.clipDefaults(mode, pinpoints);
            return new ImageProcessingConfig(towerSize, towerSize, clip.rescaleFactor(), clip.mean(), clip.std(),
                    mode, pinpoints);
        } catch (IllegalArgumentException e) {
            throw new DataException("image settings: " + e.getMessage());
        }
    }

    private static void checkMode(String mode) {
        if (mode == null) return;
        String m = mode.toLowerCase(Locale.ROOT);
        if (!m.equals("square") && !m.equals("pad") && !m.equals("anyres") && !m.matches("anyres_max_[0-9]{1,9}")) {
            throw new DataException("--image-aspect-ratio '" + mode + "' is not supported (square, anyres, anyres_max_N, pad)");
        }
    }

    /** This configuration with another aspect-ratio mode (same processor settings and pinpoints). */
    public TrainingImageConfig withAspectRatio(String mode) {
        checkMode(mode);
        ImageProcessingConfig p = processing;
        return new TrainingImageConfig(new ImageProcessingConfig(p.cropSize(), p.shortestEdge(), p.rescaleFactor(),
                p.mean(), p.std(), mode, p.gridPinpoints()), patchesPerSide, mergeType, decoder);
    }

    /** This configuration with another image decoder (limits). */
    public TrainingImageConfig withDecoder(ImageDecoder decoder) {
        return new TrainingImageConfig(processing, patchesPerSide, mergeType, decoder);
    }

    /** The mode an image of a record with {@code imagesInRecord} images is processed with. */
    public String modeFor(int imagesInRecord) {
        return imagesInRecord > 1 ? "pad" : aspectRatioMode();
    }

    /** Rows an image of width x height becomes in the merged sequence, processed with {@code mode}. */
    public int imageTokens(int width, int height, String mode) {
        int perTile = patchesPerSide * patchesPerSide;
        if (mode.equals("anyres") || mode.contains("anyres_max")) {
            return AnyresGeometry.layout(width, height, processing.gridPinpoints(), patchesPerSide,
                    processing.cropSize(), mode, mergeType).numImageTokens();
        }
        if (mergeType.equals("flat")) return perTile;
        return perTile + (mergeType.contains("unpad") ? 1 : 0);
    }

    /** A preprocessor for {@code mode}. */
    ImagePreprocessor preprocessor(String mode) {
        return mode.equals(aspectRatioMode()) ? new ImagePreprocessor(processing)
                : new ImagePreprocessor(withAspectRatio(mode).processing);
    }

    /** Upstream's dummy image for a text-only record: zeros [1, 3, S, S], size (S, S). */
    public PreprocessedImage dummyImage() {
        int s = tileSize();
        return new PreprocessedImage(s, s, 1, new float[3 * s * s], 0, 0);
    }
}
