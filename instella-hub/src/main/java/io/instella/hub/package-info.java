/**
 * Hugging Face Hub client that downloads model and dataset files into the standard Hugging Face cache
 * ({@code ~/.cache/huggingface/hub}), laid out exactly as Python's {@code huggingface_hub} does, so both share one
 * cache in both directions. Entry point: {@link io.instella.hub.HubClient}. The cache layout is documented in the
 * module's README.md.
 */
package io.instella.hub;
