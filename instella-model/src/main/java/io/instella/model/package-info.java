/** The Instella-VL model: config, tokenizer, template, preprocessing, vision tower, projector, language model. */
package io.instella.model;
