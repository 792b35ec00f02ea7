/**
 * The optimizer side of a training step, as the upstream HF Trainer runs it: {@link io.instella.train.optim.GradientClipping}
 * (torch {@code clip_grad_norm_}), {@link io.instella.train.optim.AdamW} (torch 1.13 {@code AdamW}, HF no-decay split,
 * optional BF16 moments) and {@link io.instella.train.optim.LrSchedule} (transformers' schedules). Order per optimizer
 * step: backward, {@code clipGlobalNorm(params, maxGradNorm)}, {@code adamw.step(schedule.lr(step))}, {@code params.zeroGrad()}.
 */
package io.instella.train.optim;
