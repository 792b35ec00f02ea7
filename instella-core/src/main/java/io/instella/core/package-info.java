/** Math core: tensors, kernels, safetensors. Knows nothing about models. */
package io.instella.core;
