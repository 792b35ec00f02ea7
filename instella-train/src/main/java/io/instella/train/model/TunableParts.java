package io.instella.train.model;

import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;

/**
 * Upstream's {@code --mm_tunable_parts} and its name rules (train.py): {@code mm_mlp_adapter} trains every tensor
 * whose name contains {@code mm_projector}; {@code mm_vision_tower} every one containing {@code vision_tower};
 * {@code mm_language_model} every one containing none of {@code vision_tower}, {@code mm_projector},
 * {@code vision_resampler} (embeddings, the tied head and {@code image_newline} included).
 */
public record TunableParts(boolean projector, boolean visionTower, boolean languageModel) {
    public static final String ADAPTER = "mm_mlp_adapter", VISION = "mm_vision_tower", LANGUAGE = "mm_language_model";

    /** Nothing of the base model trained (a LoRA run whose adapters are the only trained tensors). */
    public static final TunableParts NONE = new TunableParts(false, false, false);

    /** A comma-separated list of parts; "none" (or an empty list) for {@link #NONE}. */
    public static TunableParts parse(String list) {
        if (list.isBlank() || list.trim().equalsIgnoreCase("none")) return NONE;
        Set<String> parts = new LinkedHashSet<>();
        for (String p : list.split(",")) {
            String s = p.trim().toLowerCase(Locale.ROOT);
            if (s.isEmpty()) continue;
            if (!s.equals(ADAPTER) && !s.equals(VISION) && !s.equals(LANGUAGE)) {
                throw new IllegalArgumentException("unknown tunable part '" + p.trim() + "' (use " + ADAPTER + ", " + VISION
                        + ", " + LANGUAGE + ", comma-separated)");
            }
            parts.add(s);
        }
        return new TunableParts(parts.contains(ADAPTER), parts.contains(VISION), parts.contains(LANGUAGE));
    }

    /** Whether the checkpoint tensor of this name is trained. */
    public boolean trains(String name) {
        boolean isProjector = name.contains("mm_projector"), isVision = name.contains("vision_tower");
        if (projector && isProjector) return true;
        if (visionTower && isVision) return true;
        return languageModel && !isProjector && !isVision && !name.contains("vision_resampler");
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        if (visionTower) s.append(VISION);
        if (projector) s.append(s.isEmpty() ? "" : ",").append(ADAPTER);
        if (languageModel) s.append(s.isEmpty() ? "" : ",").append(LANGUAGE);
        return s.isEmpty() ? "none" : s.toString();
    }
}
