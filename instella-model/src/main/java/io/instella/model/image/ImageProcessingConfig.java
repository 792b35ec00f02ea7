package io.instella.model.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * What the image pipeline needs from the CLIP {@code preprocessor_config.json} and the model's
 * {@code image_aspect_ratio} / {@code image_grid_pinpoints}.
 *
 * @param cropSize        centre-crop side ({@code crop_size}); also the anyres tile size
 * @param shortestEdge    {@code size.shortest_edge}: shortest-edge resize target and the anyres base-tile side
 * @param rescaleFactor   {@code rescale_factor} (1/255), applied in float64 before the cast to float32
 * @param mean            per-channel {@code image_mean}, as float32 (how the reference normalises)
 * @param std             per-channel {@code image_std}, as float32
 * @param aspectRatioMode "anyres", "anyres_max_N", "pad" or "square" (null in the model config means "square")
 * @param gridPinpoints   anyres candidate canvases as (width, height), multiples of cropSize
 */
public record ImageProcessingConfig(int cropSize, int shortestEdge, double rescaleFactor, float[] mean, float[] std,
                                    String aspectRatioMode, List<int[]> gridPinpoints) {

    /** {@code openai/clip-vit-large-patch14-336}'s {@code image_mean}. */
    public static final double[] CLIP_MEAN = {0.48145466, 0.4578275, 0.40821073};
    /** {@code openai/clip-vit-large-patch14-336}'s {@code image_std}. */
    public static final double[] CLIP_STD = {0.26862954, 0.26130258, 0.27577711};
    /** Instella-VL-1B's {@code image_grid_pinpoints}, (width, height). */
    public static final List<int[]> INSTELLA_PINPOINTS = List.of(
            new int[] {336, 336}, new int[] {336, 672}, new int[] {336, 1008}, new int[] {336, 1344},
            new int[] {336, 1680}, new int[] {672, 336}, new int[] {672, 672}, new int[] {1008, 336},
            new int[] {1344, 336}, new int[] {1680, 336});

    public ImageProcessingConfig {
        if (cropSize < 1 || shortestEdge < 1) {
            throw new IllegalArgumentException("crop size and shortest edge must be positive, got " + cropSize
                    + " and " + shortestEdge);
        }
        if (shortestEdge < cropSize) {
            throw new IllegalArgumentException("shortest edge " + shortestEdge + " is smaller than the crop size "
                    + cropSize + ": the centre crop would have to pad, which is not supported");
        }
        if (!(rescaleFactor > 0) || Double.isInfinite(rescaleFactor)) {
            throw new IllegalArgumentException("rescale factor must be positive, got " + rescaleFactor);
        }
        if (mean == null || mean.length != 3 || std == null || std.length != 3) {
            throw new IllegalArgumentException("image mean and std need 3 values each (RGB)");
        }
        for (float s : std) {
            if (!(s > 0)) throw new IllegalArgumentException("image std must be positive, got " + Arrays.toString(std));
        }
        mean = mean.clone();
        std = std.clone();
        String mode = aspectRatioMode == null || aspectRatioMode.isBlank() ? "square" : aspectRatioMode;
        if (!AnyresGeometry.isAnyres(mode) && !mode.equals("pad") && !mode.equals("square")) {
            throw new IllegalArgumentException("image_aspect_ratio '" + aspectRatioMode + "' is not supported; "
                    + "use anyres, anyres_max_N, pad or square");
        }
        aspectRatioMode = mode;
        List<int[]> points = new ArrayList<>();
        if (gridPinpoints != null) {
            for (int[] p : gridPinpoints) {
                if (p == null || p.length != 2 || p[0] < cropSize || p[1] < cropSize || p[0] % cropSize != 0
                        || p[1] % cropSize != 0) {
                    throw new IllegalArgumentException("grid pinpoint " + Arrays.toString(p) + " is not a "
                            + "(width, height) pair of positive multiples of the tile size " + cropSize);
                }
                points.add(p.clone());
            }
        }
        if (AnyresGeometry.isAnyres(mode) && points.isEmpty()) {
            throw new IllegalArgumentException("image_aspect_ratio '" + mode + "' needs image_grid_pinpoints");
        }
        gridPinpoints = List.copyOf(points);
    }

    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    @Override
    public List<int[]> gridPinpoints() {
        List<int[]> copy = new ArrayList<>(gridPinpoints.size());
        for (int[] p : gridPinpoints) copy.add(p.clone());
        return copy;
    }

    /** CLIP ViT-L/14-336 preprocessing (336 crop, shortest edge 336, 1/255, CLIP mean/std) with the given mode. */
    public static ImageProcessingConfig clipDefaults(String aspectRatioMode, List<int[]> gridPinpoints) {
        return new ImageProcessingConfig(336, 336, 1.0 / 255, toFloats(CLIP_MEAN), toFloats(CLIP_STD),
                aspectRatioMode, gridPinpoints);
    }

    /** Instella-VL-1B as released: CLIP defaults, "anyres", the ten Instella pinpoints. */
    public static ImageProcessingConfig instellaDefaults() {
        return clipDefaults("anyres", INSTELLA_PINPOINTS);
    }

    /**
     * Reads a CLIP {@code preprocessor_config.json} and takes {@code image_aspect_ratio} and
     * {@code image_grid_pinpoints} from the model's {@code config.json}.
     */
    public static ImageProcessingConfig fromFiles(Path preprocessorConfigJson, Path modelConfigJson) {
        JsonNode pre = readJson(preprocessorConfigJson);
        JsonNode model = readJson(modelConfigJson);
        return fromJson(pre, text(model.get("image_aspect_ratio")), model.get("image_grid_pinpoints"),
                preprocessorConfigJson.toString());
    }

    /** As {@link #fromFiles} with the model's two settings given directly (pinpoints may be null). */
    public static ImageProcessingConfig fromPreprocessorConfig(Path preprocessorConfigJson, String aspectRatioMode,
                                                               List<int[]> gridPinpoints) {
        JsonNode pre = readJson(preprocessorConfigJson);
        ImageProcessingConfig base = fromJson(pre, "square", null, preprocessorConfigJson.toString());
        return new ImageProcessingConfig(base.cropSize, base.shortestEdge, base.rescaleFactor, base.mean, base.std,
                aspectRatioMode, gridPinpoints);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode readJson(Path file) {
        try {
            JsonNode node = JSON.readTree(Files.readString(file));
            if (node == null || !node.isObject()) {
                throw new IllegalArgumentException(file + ": expected a JSON object");
            }
            return node;
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": file not found", e);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read JSON: " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText();
    }

    static ImageProcessingConfig fromJson(JsonNode pre, String aspectRatioMode, JsonNode pinpointsNode, String where) {
        requireTrueOrAbsent(pre, "do_resize", where);
        requireTrueOrAbsent(pre, "do_center_crop", where);
        requireTrueOrAbsent(pre, "do_rescale", where);
        requireTrueOrAbsent(pre, "do_normalize", where);
        JsonNode resample = pre.get("resample");
        if (resample != null && !resample.isNull() && resample.asInt() != 3) {
            throw new IllegalArgumentException(where + ": resample " + resample.asInt()
                    + " is not supported (only 3 = BICUBIC, CLIP's setting)");
        }
        int shortest = sizeValue(pre.get("size"), "shortest_edge", where, "size");
        int crop = sizeValue(pre.get("crop_size"), "height", where, "crop_size");
        JsonNode cropNode = pre.get("crop_size");
        if (cropNode != null && cropNode.isObject() && cropNode.has("width")
                && cropNode.get("width").asInt() != crop) {
            throw new IllegalArgumentException(where + ": non-square crop_size " + cropNode + " is not supported");
        }
        double rescale = pre.has("rescale_factor") ? pre.get("rescale_factor").asDouble() : 1.0 / 255;
        float[] mean = floats3(pre.get("image_mean"), where, "image_mean");
        float[] std = floats3(pre.get("image_std"), where, "image_std");
        List<int[]> pinpoints = parsePinpoints(pinpointsNode, shortest, where);
        return new ImageProcessingConfig(crop, shortest, rescale, mean, std, aspectRatioMode, pinpoints);
    }

    private static void requireTrueOrAbsent(JsonNode pre, String key, String where) {
        JsonNode v = pre.get(key);
        if (v != null && !v.isNull() && !v.asBoolean()) {
            throw new IllegalArgumentException(where + ": " + key + "=false is not supported");
        }
    }

    private static int sizeValue(JsonNode n, String key, String where, String field) {
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException(where + ": missing " + field);
        }
        if (n.isNumber()) return n.asInt();
        if (n.isObject() && n.has(key)) return n.get(key).asInt();
        throw new IllegalArgumentException(where + ": " + field + " " + n + " has no '" + key + "'");
    }

    private static float[] floats3(JsonNode n, String where, String field) {
        if (n == null || !n.isArray() || n.size() != 3) {
            throw new IllegalArgumentException(where + ": " + field + " must be a list of 3 numbers, got " + n);
        }
        float[] out = new float[3];
        for (int i = 0; i < 3; i++) {
            out[i] = (float) n.get(i).asDouble(); // np.array(mean, dtype=float32)
        }
        return out;
    }

    private static final Pattern RANGE = Pattern.compile("\\((\\d+)x(\\d+)\\)");
    private static final Pattern NUMBER = Pattern.compile("\\d+");

    /**
     * {@code image_grid_pinpoints}: a list of [w, h] pairs, its string form, or the "(1x1),...,(3x3)" range form,
     * which expands to every (i, j) from the first to the last pair times {@code tile}.
     */
    static List<int[]> parsePinpoints(JsonNode n, int tile, String where) {
        List<int[]> out = new ArrayList<>();
        if (n == null || n.isNull()) return out;
        if (n.isArray()) {
            for (JsonNode p : n) {
                if (!p.isArray() || p.size() != 2) {
                    throw new IllegalArgumentException(where + ": grid pinpoint " + p + " is not a [width, height] pair");
                }
                out.add(new int[] {p.get(0).asInt(), p.get(1).asInt()});
            }
            return out;
        }
        String s = n.asText();
        if (s.contains("x")) {
            Matcher m = RANGE.matcher(s);
            List<int[]> pairs = new ArrayList<>();
            while (m.find()) pairs.add(new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))});
            if (pairs.isEmpty()) {
                throw new IllegalArgumentException(where + ": cannot read grid pinpoints '" + s + "'");
            }
            int[] first = pairs.get(0);
            int[] last = pairs.get(pairs.size() - 1);
            for (int i = first[0]; i <= last[0]; i++) {
                for (int j = first[1]; j <= last[1]; j++) {
                    out.add(new int[] {i * tile, j * tile});
                }
            }
            return out;
        }
        Matcher m = NUMBER.matcher(s);
        List<Integer> nums = new ArrayList<>();
        while (m.find()) nums.add(Integer.parseInt(m.group()));
        if (nums.isEmpty() || nums.size() % 2 != 0) {
            throw new IllegalArgumentException(where + ": cannot read grid pinpoints '" + s + "'");
        }
        for (int i = 0; i < nums.size(); i += 2) out.add(new int[] {nums.get(i), nums.get(i + 1)});
        return out;
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof ImageProcessingConfig c)) return false;
        if (cropSize != c.cropSize || shortestEdge != c.shortestEdge || rescaleFactor != c.rescaleFactor
                || !Arrays.equals(mean, c.mean) || !Arrays.equals(std, c.std)
                || !aspectRatioMode.equals(c.aspectRatioMode) || gridPinpoints.size() != c.gridPinpoints.size()) {
            return false;
        }
        for (int i = 0; i < gridPinpoints.size(); i++) {
            if (!Arrays.equals(gridPinpoints.get(i), c.gridPinpoints.get(i))) return false;
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 31 * cropSize + shortestEdge;
        h = 31 * h + Double.hashCode(rescaleFactor);
        h = 31 * h + Arrays.hashCode(mean);
        h = 31 * h + Arrays.hashCode(std);
        h = 31 * h + aspectRatioMode.hashCode();
        for (int[] p : gridPinpoints) h = 31 * h + Arrays.hashCode(p);
        return h;
    }

    @Override
    public String toString() {
        StringBuilder pts = new StringBuilder();
        for (int[] p : gridPinpoints) pts.append(pts.isEmpty() ? "" : ",").append(p[0]).append('x').append(p[1]);
        return "ImageProcessingConfig[crop=" + cropSize + ", shortestEdge=" + shortestEdge + ", rescale="
                + rescaleFactor + ", mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + ", mode="
                + aspectRatioMode + ", pinpoints=[" + pts + "]]";
    }
}
