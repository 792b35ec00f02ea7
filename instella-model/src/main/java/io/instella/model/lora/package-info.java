/**
 * LoRA adapters in the layout of Hugging Face's {@code peft} library ({@code adapter_config.json} and
 * {@code adapter_model.safetensors}): reading, writing, matching target modules, and merging into base weights.
 *
 * <p>Why here and not in {@code instella-train}: applying an adapter is part of loading a model ({@code --lora DIR}
 * on run, chat, generate and serve, and {@link io.instella.api.LoadOptions#withLora}), and this module cannot depend
 * on the training module. The format lives in one place so that what the trainer writes and what the loader reads
 * can never drift apart; the training-only parts (initialisation, the trainer's options, {@code merge-lora}) are in
 * {@code io.instella.train.lora}.
 */
package io.instella.model.lora;
