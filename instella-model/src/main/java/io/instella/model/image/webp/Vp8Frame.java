package io.instella.model.image.webp;

/**
 * A decoded VP8 key frame: 8-bit Y, U, V planes (4:2:0) covering whole macroblocks, of which the top-left
 * {@code width x height} luma samples and {@code ceil(width/2) x ceil(height/2)} chroma samples are the picture.
 */
record Vp8Frame(int width, int height, byte[] y, int yStride, byte[] u, byte[] v, int uvStride) {
}
