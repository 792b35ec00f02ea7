/**
 * Engine internals: config, tokenizer, chat template, image preprocessing, CLIP tower, projector, OLMo language
 * model, composed {@link io.instella.model.InstellaVL}, generation, model sources. These types are public so that
 * the CLI, the server and the tests can use them; they are not a stable API. Applications should use
 * {@link io.instella.api}.
 */
package io.instella.model;
