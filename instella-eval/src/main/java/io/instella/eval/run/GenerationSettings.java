package io.instella.eval.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;

/**
 * Decoding settings of one request, resolved from the task's generation kwargs as the {@code instellavl}
 * adapter does: {@code max_new_tokens} 1024, {@code temperature} 0, {@code do_sample} false, {@code top_p} None
 * and {@code num_beams} 1 when missing. {@code until} is listed for information only: the adapter pops it, so
 * no stop strings apply (generation ends at EOS or max_new_tokens). {@code imageAspectRatio} is the kwarg some
 * tasks set (SEED-Bench: "original"); the adapter pops it too and preprocesses images with the model's setting
 * (or "pad" for multi-image requests).
 */
public record GenerationSettings(int maxNewTokens, double temperature, boolean doSample, Double topP, int numBeams,
                                 List<String> until, String imageAspectRatio) {

    public static GenerationSettings fromTaskKwargs(ObjectNode kwargs) {
        JsonNode v;
        int maxNewTokens = (v = kwargs.get("max_new_tokens")) != null ? v.intValue() : 1024;
        double temperature = (v = kwargs.get("temperature")) != null ? v.doubleValue() : 0.0;
        boolean doSample = (v = kwargs.get("do_sample")) != null && v.booleanValue();
        Double topP = (v = kwargs.get("top_p")) != null && !v.isNull() ? v.doubleValue() : null;
        int numBeams = (v = kwargs.get("num_beams")) != null ? v.intValue() : 1;
        List<String> until = new ArrayList<>();
        if ((v = kwargs.get("until")) != null) v.forEach(u -> until.add(u.textValue()));
        String aspect = (v = kwargs.get("image_aspect_ratio")) != null ? v.textValue() : null;
        return new GenerationSettings(maxNewTokens, temperature, doSample, topP, numBeams, List.copyOf(until), aspect);
    }

    /**
     * The keys of the request's gen_kwargs after the adapter mutated it (what lmms-eval logs as "arguments"):
     * the task's keys without until and image_aspect_ratio, the defaults it added, and image_sizes for image requests.
     */
    public static List<String> loggedArgumentKeys(ObjectNode kwargs, boolean hasImages) {
        List<String> keys = new ArrayList<>();
        kwargs.fieldNames().forEachRemaining(k -> {
            if (!k.equals("until") && !k.equals("image_aspect_ratio")) keys.add(k);
        });
        for (String d : new String[] {"max_new_tokens", "temperature", "do_sample", "top_p", "num_beams"}) {
            if (!keys.contains(d)) keys.add(d);
        }
        if (hasImages) keys.add("image_sizes");
        return keys;
    }
}
