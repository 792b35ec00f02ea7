/**
 * Byte-level BPE tokenizer read from a Hugging Face {@code tokenizer.json}, identical in ids and decoded text
 * to HF {@code tokenizers} for the OLMo GPT-NeoX "pii-special" tokenizer: {@link io.instella.model.tokenizer.Tokenizer},
 * streaming decode with {@link io.instella.model.tokenizer.IncrementalDecoder}.
 */
package io.instella.model.tokenizer;
