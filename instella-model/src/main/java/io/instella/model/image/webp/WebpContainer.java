package io.instella.model.image.webp;

/**
 * The RIFF/WebP container, parsed and validated the way libwebp 1.2.4's demuxer ({@code WebPDemux}, which Pillow's
 * {@code WebPAnimDecoder} uses) and {@code WebPGetFeatures} validate it, before any pixel buffer exists: the RIFF size
 * against the file length, every chunk size against the RIFF payload, the VP8X canvas against the pixel limit and
 * (for a still image) against the dimensions in the VP8/VP8L bitstream header, animation frames against the canvas.
 * Only the first frame of an animation is located (Pillow shows the first frame).
 *
 * @param canvasWidth  width of the picture Pillow returns
 * @param canvasHeight height of the picture Pillow returns
 * @param animated     whether the file is an animation (the first frame is placed on an empty canvas)
 * @param frame        the image to decode
 */
record WebpContainer(int canvasWidth, int canvasHeight, boolean animated, Frame frame) {

    /**
     * One image bitstream.
     *
     * @param lossless      VP8L (true) or VP8 (false)
     * @param payloadOffset first byte of the VP8/VP8L payload
     * @param payloadSize   the chunk's declared payload size
     * @param availableSize payload plus its padding byte, as libwebp hands it to the decoder
     * @param alphaOffset   first byte of the ALPH payload, or -1
     * @param alphaSize     ALPH payload size
     * @param x             left offset on the canvas (animation frames)
     * @param y             top offset on the canvas
     * @param width         width from the bitstream header
     * @param height        height from the bitstream header
     */
    record Frame(boolean lossless, int payloadOffset, int payloadSize, int availableSize, int alphaOffset,
            int alphaSize, int x, int y, int width, int height) {
    }

    private static final long MAX_CHUNK_PAYLOAD = 0xFFFFFFFFL - 8 - 1;
    private static final long MAX_IMAGE_AREA = 1L << 32;
    private static final int ANIMATION_FLAG = 0x02;
    private static final int ALPHA_FLAG = 0x10;
    private static final int ALL_VALID_FLAGS = 0x3E;

    /** Parses {@code data}; throws {@link WebpFormatException} with a user-facing reason when libwebp would refuse it. */
    static WebpContainer parse(byte[] data, long maxPixels) {
        return new Parser(data, maxPixels).parse();
    }

    private static final class Parser {
        private final byte[] data;
        private final long maxPixels;
        /** End of the RIFF payload (the file may be longer: trailing bytes are ignored, as libwebp does). */
        private int riffEnd;
        private int pos;

        private boolean extended;
        private int flags;
        private int canvasWidth;
        private int canvasHeight;
        private boolean sawAnim;
        private Frame firstFrame;
        private int framesSeen;

        Parser(byte[] data, long maxPixels) {
            this.data = data;
            this.maxPixels = maxPixels;
        }

        WebpContainer parse() {
            if (data.length < 20) {
                throw new WebpFormatException("file is truncated: " + data.length
                        + " bytes, a WebP file has at least 20");
            }
            if (!tag(0, "RIFF") || !tag(8, "WEBP")) {
                throw new WebpFormatException("not a RIFF/WEBP file");
            }
            long riffSize = le32(4);
            if (riffSize < 8) {
                throw new WebpFormatException("RIFF size " + riffSize + " is too small to hold a WebP image");
            }
            if (riffSize > MAX_CHUNK_PAYLOAD) {
                throw new WebpFormatException("RIFF size " + riffSize + " is invalid");
            }
            if (riffSize + 8 > data.length) {
                throw new WebpFormatException("file is truncated: the RIFF header announces " + (riffSize + 8)
                        + " bytes but the file has " + data.length);
            }
            riffEnd = (int) (riffSize + 8);
            pos = 12;
            if (tag(pos, "VP8 ") || tag(pos, "VP8L")) {
                parseSimple();
            } else if (tag(pos, "VP8X")) {
                parseExtended();
            } else {
                throw new WebpFormatException("the first chunk is '" + fourcc(pos)
                        + "', expected 'VP8 ', 'VP8L' or 'VP8X'");
            }
            return new WebpContainer(canvasWidth, canvasHeight, extended && (flags & ANIMATION_FLAG) != 0,
                    firstFrame);
        }

        private void parseSimple() {
            FrameBuilder fb = new FrameBuilder(0, 0);
            storeFrame(fb, 0);
            if (fb.imageOffset < 0) {
                throw new WebpFormatException("no VP8 or VP8L image data found");
            }
            canvasWidth = fb.width;
            canvasHeight = fb.height;
            checkPixels("image", canvasWidth, canvasHeight);
            firstFrame = fb.build();
        }

        private void parseExtended() {
            extended = true;
            pos += 4;
            long vp8xSize = le32(pos);
            pos += 4;
            if (vp8xSize > MAX_CHUNK_PAYLOAD || vp8xSize < 10) {
                throw new WebpFormatException("VP8X chunk size " + vp8xSize + " is invalid (expected 10)");
            }
            long padded = vp8xSize + (vp8xSize & 1);
            if (padded > riffEnd - pos) {
                throw new WebpFormatException("VP8X chunk runs past the end of the RIFF data");
            }
            flags = data[pos] & 0xFF;
            canvasWidth = 1 + le24(pos + 4);
            canvasHeight = 1 + le24(pos + 7);
            if ((long) canvasWidth * canvasHeight >= MAX_IMAGE_AREA) {
                throw new WebpFormatException("VP8X canvas " + canvasWidth + "x" + canvasHeight + " is too large");
            }
            // The canvas is what gets allocated: refuse decompression bombs before reading on.
            checkPixels("canvas", canvasWidth, canvasHeight);
            pos += (int) padded;
            if (riffEnd - pos < 8) {
                throw new WebpFormatException("no image chunk after the VP8X chunk");
            }
            boolean animation = (flags & ANIMATION_FLAG) != 0;
            while (true) {
                int chunkStart = pos;
                String id = fourcc(pos);
                long size = le32(pos + 4);
                if (size > MAX_CHUNK_PAYLOAD) {
                    throw new WebpFormatException("chunk '" + id + "' has an invalid size " + size);
                }
                long sizePadded = size + (size & 1);
                if (sizePadded > riffEnd - pos - 8) {
                    throw new WebpFormatException("chunk '" + id + "' (" + size + " bytes) runs past the end of "
                            + "the RIFF data");
                }
                switch (id) {
                    case "VP8X" -> throw new WebpFormatException("a second VP8X chunk was found");
                    case "ALPH", "VP8 ", "VP8L" -> {
                        if (sawAnim || animation) {
                            throw new WebpFormatException("an animated WebP has an image chunk outside ANMF frames");
                        }
                        if (firstFrame != null) {
                            throw new WebpFormatException("more than one image in a still WebP");
                        }
                        FrameBuilder fb = new FrameBuilder(0, 0);
                        storeFrame(fb, 0);
                        if ((flags & ALPHA_FLAG) == 0) {
                            fb.alphaOffset = -1; // the demuxer ignores ALPH without the VP8X alpha flag
                        } else if (fb.alphaAfterImage) {
                            throw new WebpFormatException("the ALPH chunk comes after the image data");
                        }
                        firstFrame = fb.imageOffset >= 0 ? fb.build() : null;
                        framesSeen++;
                        if (firstFrame == null) {
                            throw new WebpFormatException("an ALPH chunk is not followed by VP8 image data");
                        }
                    }
                    case "ANIM" -> {
                        if (sizePadded < 6) {
                            throw new WebpFormatException("ANIM chunk is too short (" + size + " bytes)");
                        }
                        sawAnim = true;
                        pos += 8 + (int) sizePadded;
                    }
                    case "ANMF" -> {
                        if (!sawAnim) {
                            throw new WebpFormatException("an ANMF frame comes before the ANIM chunk");
                        }
                        parseAnimationFrame(sizePadded, animation);
                    }
                    default -> pos += 8 + (int) sizePadded; // ICCP, EXIF, XMP and unknown chunks
                }
                if (pos == riffEnd) {
                    break;
                }
                if (riffEnd - pos < 8) {
                    throw new WebpFormatException("stray bytes at the end of the RIFF data after chunk '"
                            + fourcc(chunkStart) + "'");
                }
            }
            if ((flags & ~ALL_VALID_FLAGS) != 0) {
                throw new WebpFormatException(String.format("VP8X flags 0x%02x set reserved bits", flags));
            }
            if (firstFrame == null) {
                throw new WebpFormatException(animation ? "animation has no frames" : "no image data found");
            }
            if (!animation) {
                if (firstFrame.width() != canvasWidth || firstFrame.height() != canvasHeight) {
                    throw new WebpFormatException("VP8X canvas " + canvasWidth + "x" + canvasHeight
                            + " does not match the image size " + firstFrame.width() + "x" + firstFrame.height());
                }
            }
        }

        private void parseAnimationFrame(long frameChunkSize, boolean animation) {
            if (frameChunkSize < 16) {
                throw new WebpFormatException("ANMF chunk is too short (" + frameChunkSize + " bytes)");
            }
            int p = pos + 8;
            int x = 2 * le24(p);
            int y = 2 * le24(p + 3);
            int w = 1 + le24(p + 6);
            int h = 1 + le24(p + 9);
            if ((long) w * h >= MAX_IMAGE_AREA) {
                throw new WebpFormatException("ANMF frame " + w + "x" + h + " is too large");
            }
            long payloadSize = frameChunkSize - 16;
            pos = p + 16;
            int start = pos;
            FrameBuilder fb = new FrameBuilder(x, y);
            storeFrame(fb, payloadSize);
            if (pos - start > payloadSize) {
                throw new WebpFormatException("ANMF frame's chunks run past the end of the ANMF chunk");
            }
            boolean hasContent = fb.imageOffset >= 0 || fb.alphaOffset >= 0 || fb.alphaAfterImage;
            if (animation && hasContent) {
                framesSeen++;
                if (fb.alphaAfterImage) {
                    throw new WebpFormatException("animation frame " + framesSeen
                            + ": the ALPH chunk comes after the image data");
                }
                if (fb.imageOffset < 0) {
                    throw new WebpFormatException("animation frame " + framesSeen + " has no image data");
                }
                Frame f = fb.build();
                if (f.x() + f.width() > canvasWidth || f.y() + f.height() > canvasHeight) {
                    throw new WebpFormatException("animation frame " + framesSeen + " (" + f.width() + "x"
                            + f.height() + " at " + f.x() + "," + f.y() + ") lies outside the canvas "
                            + canvasWidth + "x" + canvasHeight);
                }
                if (firstFrame == null) {
                    firstFrame = f;
                }
            }
        }

        /** libwebp's StoreFrame: an optional ALPH chunk, then one VP8/VP8L chunk; stops at any other chunk. */
        private void storeFrame(FrameBuilder fb, long minSize) {
            if (riffEnd - pos < 8 || riffEnd - pos < minSize) {
                throw new WebpFormatException("image data is truncated");
            }
            boolean done = false;
            while (!done) {
                int chunkStart = pos;
                String id = fourcc(pos);
                long size = le32(pos + 4);
                if (size > MAX_CHUNK_PAYLOAD) {
                    throw new WebpFormatException("chunk '" + id + "' has an invalid size " + size);
                }
                long padded = size + (size & 1);
                if (padded > riffEnd - pos - 8) {
                    throw new WebpFormatException("chunk '" + id + "' (" + size + " bytes) runs past the end of "
                            + "the RIFF data (file truncated or chunk size wrong)");
                }
                switch (id) {
                    case "ALPH" -> {
                        if (fb.alphaOffset < 0 && fb.imageOffset < 0) {
                            fb.alphaOffset = pos + 8;
                            fb.alphaSize = (int) size;
                            pos += 8 + (int) padded;
                        } else if (fb.alphaOffset < 0 && !fb.alphaAfterImage) {
                            // ALPH after the image: recorded; refused later unless the alpha is ignored anyway.
                            fb.alphaAfterImage = true;
                            pos += 8 + (int) padded;
                        } else {
                            done = true;
                        }
                    }
                    case "VP8 ", "VP8L" -> {
                        boolean lossless = id.equals("VP8L");
                        if (lossless && fb.alphaOffset >= 0) {
                            throw new WebpFormatException("a VP8L image must not have an ALPH chunk");
                        }
                        if (fb.imageOffset < 0) {
                            int payload = pos + 8;
                            int[] dims = lossless ? vp8lSize(payload, (int) size)
                                    : Vp8Decoder.readSize(data, payload, (int) size, (int) padded);
                            fb.lossless = lossless;
                            fb.imageOffset = payload;
                            fb.imageSize = (int) size;
                            fb.available = (int) padded;
                            fb.width = dims[0];
                            fb.height = dims[1];
                            pos += 8 + (int) padded;
                        } else {
                            done = true;
                        }
                    }
                    default -> done = true;
                }
                if (!done) {
                    if (pos == riffEnd) {
                        done = true;
                    } else if (riffEnd - pos < 8) {
                        throw new WebpFormatException("stray bytes at the end of the RIFF data after chunk '"
                                + fourcc(chunkStart) + "'");
                    }
                }
            }
        }

        /** VP8L header (libwebp's VP8LGetInfo): signature 0x2f, 14-bit width-1 and height-1, alpha bit, version 0. */
        private int[] vp8lSize(int payload, int size) {
            if (size < 5) {
                throw new WebpFormatException("VP8L header is truncated (" + size + " bytes, at least 5 needed)");
            }
            if ((data[payload] & 0xFF) != 0x2f) {
                throw new WebpFormatException("VP8L chunk lacks the signature byte 0x2f");
            }
            long bits = le32(payload + 1);
            int w = (int) (bits & 0x3fff) + 1;
            int h = (int) ((bits >>> 14) & 0x3fff) + 1;
            int version = (int) ((bits >>> 29) & 7);
            if (version != 0) {
                throw new WebpFormatException("VP8L version " + version + " is not supported (only 0 exists)");
            }
            return new int[] {w, h};
        }

        private void checkPixels(String what, long w, long h) {
            if (w <= 0 || h <= 0) {
                throw new WebpFormatException(what + " has zero size (" + w + "x" + h + ")");
            }
            if (w * h > maxPixels) {
                throw new PixelLimitException(w, h, maxPixels);
            }
        }

        private boolean tag(int at, String t) {
            if (at + 4 > data.length) {
                return false;
            }
            for (int i = 0; i < 4; i++) {
                if (data[at + i] != t.charAt(i)) {
                    return false;
                }
            }
            return true;
        }

        private String fourcc(int at) {
            StringBuilder sb = new StringBuilder(4);
            for (int i = 0; i < 4; i++) {
                int c = data[at + i] & 0xFF;
                sb.append(c >= 0x20 && c < 0x7f ? (char) c : '?');
            }
            return sb.toString();
        }

        private long le32(int at) {
            return (data[at] & 0xFFL) | (data[at + 1] & 0xFFL) << 8 | (data[at + 2] & 0xFFL) << 16
                    | (data[at + 3] & 0xFFL) << 24;
        }

        private int le24(int at) {
            return (data[at] & 0xFF) | (data[at + 1] & 0xFF) << 8 | (data[at + 2] & 0xFF) << 16;
        }
    }

    private static final class FrameBuilder {
        final int x;
        final int y;
        boolean lossless;
        int imageOffset = -1;
        int imageSize;
        int available;
        int alphaOffset = -1;
        int alphaSize;
        boolean alphaAfterImage;
        int width;
        int height;

        FrameBuilder(int x, int y) {
            this.x = x;
            this.y = y;
        }

        Frame build() {
            return new Frame(lossless, imageOffset, imageSize, available, alphaOffset, alphaSize, x, y, width,
                    height);
        }
    }

    /** The declared size exceeds the caller's pixel limit. */
    static final class PixelLimitException extends RuntimeException {
        final long width;
        final long height;
        final long limit;

        PixelLimitException(long width, long height, long limit) {
            super(null, null, false, false);
            this.width = width;
            this.height = height;
            this.limit = limit;
        }
    }
}
