package io.instella.model.image;

import io.instella.model.image.ImageDecoder.Format;

/**
 * Small header parsers, one per format (WebP excepted), that read every declared dimension and size from the raw
 * bytes and check them against the pixel limit, against each other and against the amount of data present, before
 * any decoder sees the file. What they refuse is what Pillow (and the libpng/libtiff/libjpeg it builds on) refuses
 * too, or data that cannot possibly hold the pixels it claims; the error names the field and the value.
 *
 * <p>Each parser also estimates the memory the decode will allocate (decoder destination, working buffers, the RGB
 * result), so that {@link ImageDecoder} can refuse an image that does not fit its byte budget before decoding.
 */
final class ImageHeaders {
    private ImageHeaders() {}

    /**
     * What a header declares.
     *
     * @param width       output width (GIF: the logical screen grown to fit the first frame, as Pillow does)
     * @param height      output height
     * @param decodeBytes estimated memory the decode allocates, the RGB result included
     */
    record Facts(long width, long height, long decodeBytes) {}

    /** Reads and checks the header (WebP's container is read by its own decoder's parser). */
    static Facts check(Format format, byte[] b, String name, long maxPixels) {
        return switch (format) {
            case JPEG -> jpeg(b, name, maxPixels);
            case PNG -> png(b, name, maxPixels);
            case GIF -> gif(b, name, maxPixels);
            case BMP -> bmp(b, name, maxPixels);
            case TIFF -> tiff(b, name, maxPixels);
            case WEBP -> webp(b, name, maxPixels);
        };
    }

    /** Width * height * 3 bytes of the RGB result. */
    private static long rgbBytes(long width, long height) {
        return width * height * 3;
    }

    private static ImageDecodeException corrupt(String name, Format format, String what) {
        return new ImageDecodeException(name, "corrupt " + format.label + " data: " + what);
    }

    private static ImageDecodeException truncated(String name, Format format, String what) {
        return new ImageDecodeException(name, "corrupt or truncated " + format.label + " data: " + what);
    }

    // ---------------------------------------------------------------------------------------------------------
    // byte access

    private static int u8(byte[] b, long p) {
        return b[(int) p] & 0xFF;
    }

    private static int u16be(byte[] b, long p) {
        return (u8(b, p) << 8) | u8(b, p + 1);
    }

    private static int u16le(byte[] b, long p) {
        return u8(b, p) | (u8(b, p + 1) << 8);
    }

    private static long u32be(byte[] b, long p) {
        return ((long) u16be(b, p) << 16) | u16be(b, p + 2);
    }

    private static long u32le(byte[] b, long p) {
        return u16le(b, p) | ((long) u16le(b, p + 2) << 16);
    }

    // ---------------------------------------------------------------------------------------------------------
    // JPEG: the frame header (SOFn) and, for Huffman-coded sequential files, the amount of entropy-coded data

    private static Facts jpeg(byte[] b, String name, long maxPixels) {
        JpegHeaders.Frame frame = JpegHeaders.frame(b);
        if (frame == null) {
            throw truncated(name, Format.JPEG, "no frame header (SOF marker) before the image data");
        }
        if (frame.segmentLength() != 6 + 3 * frame.components().length) {
            throw corrupt(name, Format.JPEG, "the frame header's length (" + (frame.segmentLength() + 2)
                    + " bytes) does not match its " + frame.components().length + " components");
        }
        if (frame.precision() != 8) {
            throw new ImageDecodeException(name, "JPEG with " + frame.precision()
                    + "-bit samples is not supported (only 8-bit)");
        }
        if (frame.height() == 0) {
            throw new ImageDecodeException(name, "JPEG declares height 0 (a DNL marker height), which is not "
                    + "supported");
        }
        ImageDecoder.checkPixels(name, "JPEG image", frame.width(), frame.height(), maxPixels);
        int n = frame.components().length;
        if (n != 1 && n != 3 && n != 4) {
            throw new ImageDecodeException(name, "JPEG with " + n + " colour components is not supported");
        }
        int hMax = 1;
        int vMax = 1;
        for (int[] c : frame.components()) {
            if (c[1] < 1 || c[1] > 4 || c[2] < 1 || c[2] > 4) {
                throw corrupt(name, Format.JPEG, "component " + c[0] + " has sampling factors " + c[1] + "x"
                        + c[2] + " (each must be 1 to 4)");
            }
            if (c[3] > 3) {
                throw corrupt(name, Format.JPEG, "component " + c[0] + " uses quantization table " + c[3]
                        + " (at most 3)");
            }
            hMax = Math.max(hMax, c[1]);
            vMax = Math.max(vMax, c[2]);
        }
        long width = frame.width();
        long height = frame.height();
        long blocks = 0;
        java.util.Map<Integer, Long> blocksOf = new java.util.HashMap<>();
        for (int[] c : frame.components()) {
            long cw = ceilDiv(width * c[1], hMax);
            long ch = ceilDiv(height * c[2], vMax);
            long n8 = ceilDiv(cw, 8) * ceilDiv(ch, 8);
            blocks += n8;
            blocksOf.merge(c[0], n8, Long::sum);
        }
        boolean progressive = frame.marker() == 0xC2 || frame.marker() == 0xC6 || frame.marker() == 0xCA
                || frame.marker() == 0xCE;
        boolean huffman = frame.marker() == 0xC0 || frame.marker() == 0xC1 || frame.marker() == 0xC2;
        if (huffman && frame.scanOffset() > 0) {
            // A Huffman code is at least one bit long. A scan that codes DC coefficients for the first time spends
            // at least one bit on every block of its components (a sequential scan two: DC and AC), so its data
            // bounds the size. libjpeg would run out of data and warn (which refuses the file too), but only after
            // allocating the whole image.
            int index = 0;
            for (JpegHeaders.Scan scan : JpegHeaders.scans(b, frame.scanOffset())) {
                index++;
                if (scan.ss() != 0 || scan.ah() != 0) continue;
                long scanBlocks = 0;
                for (int id : scan.componentIds()) scanBlocks += blocksOf.getOrDefault(id, 0L);
                long bitsPerBlock = scan.se() == 0 ? 1 : 2;
                if (scan.dataBytes() * 8 < scanBlocks * bitsPerBlock) {
                    throw new ImageDecodeException(name, "JPEG file is truncated: scan " + index + " has "
                            + scan.dataBytes() + " bytes of compressed data, too few for a " + width + "x" + height
                            + " image");
                }
            }
        }
        // The decoded raster (one byte per component), the RGB result and, for progressive files, libjpeg's
        // whole-image coefficient buffer (64 two-byte coefficients per block).
        long bytes = width * height * n + rgbBytes(width, height) + (progressive ? blocks * 128 : 0);
        return new Facts(width, height, bytes);
    }

    private static Facts webp(byte[] b, String name, long maxPixels) {
        long[] plan = io.instella.model.image.webp.WebpDecoder.plan(b, name, maxPixels);
        return new Facts(plan[0], plan[1], plan[2]);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    // ---------------------------------------------------------------------------------------------------------
    // PNG: IHDR, the chunk layout and the amount of compressed image data

    /** Deflate's largest possible expansion: a 258-byte match coded in two bits. */
    private static final long DEFLATE_MAX_RATIO = 1032;

    private static Facts png(byte[] b, String name, long maxPixels) {
        Format f = Format.PNG;
        if (b.length < 8 + 8 + 13) {
            throw truncated(name, f, "the file ends inside the IHDR header");
        }
        long ihdrLength = u32be(b, 8);
        if (ihdrLength != 13 || b[12] != 'I' || b[13] != 'H' || b[14] != 'D' || b[15] != 'R') {
            throw corrupt(name, f, "the first chunk must be a 13-byte IHDR header");
        }
        long width = u32be(b, 16);
        long height = u32be(b, 20);
        int bitDepth = u8(b, 24);
        int colourType = u8(b, 25);
        if (width > Integer.MAX_VALUE || height > Integer.MAX_VALUE) {
            throw corrupt(name, f, "IHDR declares " + width + "x" + height + " (each side must be below 2^31)");
        }
        ImageDecoder.checkPixels(name, "PNG image", width, height, maxPixels);
        int channels = switch (colourType) {
            case 0 -> bitDepth == 1 || bitDepth == 2 || bitDepth == 4 || bitDepth == 8 || bitDepth == 16 ? 1 : -1;
            case 2 -> bitDepth == 8 || bitDepth == 16 ? 3 : -1;
            case 3 -> bitDepth == 1 || bitDepth == 2 || bitDepth == 4 || bitDepth == 8 ? 1 : -1;
            case 4 -> bitDepth == 8 || bitDepth == 16 ? 2 : -1;
            case 6 -> bitDepth == 8 || bitDepth == 16 ? 4 : -1;
            default -> -1;
        };
        if (channels < 0) {
            throw corrupt(name, f, "IHDR declares bit depth " + bitDepth + " with colour type " + colourType
                    + ", which PNG does not define");
        }
        if (u8(b, 26) != 0 || u8(b, 27) != 0 || u8(b, 28) > 1) {
            throw corrupt(name, f, "IHDR declares compression " + u8(b, 26) + ", filter " + u8(b, 27)
                    + ", interlace " + u8(b, 28) + " (PNG defines only 0, 0 and 0 or 1)");
        }
        boolean interlaced = u8(b, 28) == 1;

        // Walk the chunks: every length within PNG's 2^31 - 1 and inside the file up to the end of the image data.
        long idatBytes = 0;
        boolean idatSeen = false;
        boolean idatDone = false;
        long p = 8;
        while (p + 8 <= b.length) {
            long length = u32be(b, p);
            boolean idat = b[(int) p + 4] == 'I' && b[(int) p + 5] == 'D' && b[(int) p + 6] == 'A'
                    && b[(int) p + 7] == 'T';
            boolean iend = b[(int) p + 4] == 'I' && b[(int) p + 5] == 'E' && b[(int) p + 6] == 'N'
                    && b[(int) p + 7] == 'D';
            if (idatSeen && !idat) idatDone = true;
            if (idatDone) break; // what follows the image data is never read (Pillow ignores it too)
            if (!isChunkType(b, p + 4)) {
                throw corrupt(name, f, "a chunk at byte " + p + " has an invalid type (broken PNG file)");
            }
            if (length > Integer.MAX_VALUE) {
                throw corrupt(name, f, "a chunk at byte " + p + " declares " + length + " bytes (at most 2^31 - 1)");
            }
            if (p + 12 + length > b.length) {
                throw truncated(name, f, "the chunk at byte " + p + " declares " + length
                        + " bytes but the file ends first");
            }
            if (idat) {
                idatSeen = true;
                idatBytes += length;
            }
            if (iend) break;
            p += 12 + length;
        }
        long rawBytes = interlaced ? interlacedRawBytes(width, height, channels * bitDepth)
                : height * (1 + ceilDiv(width * channels * bitDepth, 8));
        if (idatBytes * DEFLATE_MAX_RATIO + 1024 < rawBytes) {
            throw truncated(name, f, idatBytes + " bytes of compressed image data cannot hold " + width + "x"
                    + height + " pixels (" + rawBytes + " bytes once inflated)");
        }
        // The reader's destination (samples of 8 or 16 bits, rows packed below 8 bits) plus the RGB result.
        long destination = height * ceilDiv(width * channels * Math.max(bitDepth, 8), 8);
        return new Facts(width, height, destination + rgbBytes(width, height));
    }

    private static boolean isChunkType(byte[] b, long p) {
        for (int i = 0; i < 4; i++) {
            int c = u8(b, p + i);
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
        }
        return true;
    }

    /** Inflated size of an Adam7 image: seven reduced images, each row with its filter byte. */
    private static long interlacedRawBytes(long width, long height, int bitsPerPixel) {
        int[][] passes = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2},
            {0, 1, 1, 2}};
        long total = 0;
        for (int[] pass : passes) {
            long w = width > pass[0] ? ceilDiv(width - pass[0], pass[2]) : 0;
            long h = height > pass[1] ? ceilDiv(height - pass[1], pass[3]) : 0;
            if (w > 0 && h > 0) total += h * (1 + ceilDiv(w * bitsPerPixel, 8));
        }
        return total;
    }

    // ---------------------------------------------------------------------------------------------------------
    // GIF: logical screen, every frame's image descriptor, and the first frame's amount of LZW data

    private static Facts gif(byte[] b, String name, long maxPixels) {
        Format f = Format.GIF;
        if (b.length < 13) {
            throw truncated(name, f, "the file ends inside the logical screen descriptor");
        }
        int screenW = u16le(b, 6);
        int screenH = u16le(b, 8);
        int flags = u8(b, 10);
        long p = 13;
        if ((flags & 0x80) != 0) p += 3L * (2 << (flags & 7));
        long canvasW = screenW;
        long canvasH = screenH;
        long firstFrameBytes = 0;
        int frame = 0;
        while (p < b.length) {
            int block = u8(b, p);
            if (block == 0x3B) break; // trailer
            if (block == 0x21) { // extension: label, then data sub-blocks
                p = skipSubBlocks(b, p + 2);
                continue;
            }
            if (block != 0x2C) { // Pillow skips stray bytes between blocks
                p++;
                continue;
            }
            if (p + 10 > b.length) {
                if (frame == 0) throw truncated(name, f, "the file ends inside the first image descriptor");
                break;
            }
            frame++;
            long left = u16le(b, p + 1);
            long top = u16le(b, p + 3);
            long fw = u16le(b, p + 5);
            long fh = u16le(b, p + 7);
            int frameFlags = u8(b, p + 9);
            String what = frame == 1 ? "GIF image" : "GIF frame " + frame;
            // Pillow grows the image to hold a frame that extends past the logical screen, and applies its
            // decompression-bomb check to the grown size; the same for every frame here.
            ImageDecoder.checkPixels(name, what, Math.max(screenW, left + fw), Math.max(screenH, top + fh),
                    maxPixels);
            p += 10;
            if ((frameFlags & 0x80) != 0) p += 3L * (2 << (frameFlags & 7));
            if (p >= b.length) {
                if (frame == 1) throw truncated(name, f, "the file ends before the first frame's image data");
                break;
            }
            int codeSize = u8(b, p);
            long dataStart = p + 1;
            p = skipSubBlocks(b, dataStart);
            if (frame == 1) {
                if (codeSize < 1 || codeSize > 8) { // the JDK's GIF reader decodes 1 to 8 (GIF itself: 2 to 8)
                    throw corrupt(name, f, "the first frame declares an LZW code size of " + codeSize
                            + " bits (1 to 8 are supported)");
                }
                canvasW = Math.max(screenW, left + fw);
                canvasH = Math.max(screenH, top + fh);
                firstFrameBytes = fw * fh;
                // Each LZW code takes at least codeSize + 1 bits and stands for at most 4096 pixels.
                long dataBytes = Math.min(p, b.length) - dataStart;
                long maxPixelsInData = dataBytes * 8 / (codeSize + 1) * 4096;
                if (fw * fh > maxPixelsInData) {
                    throw truncated(name, f, dataBytes + " bytes of image data cannot hold the first frame's "
                            + fw + "x" + fh + " pixels");
                }
            }
        }
        if (frame == 0) {
            throw truncated(name, f, "the file holds no image (no image descriptor before its end)");
        }
        // The reader's one-byte-per-pixel frame plus the RGB result on the canvas.
        return new Facts(canvasW, canvasH, firstFrameBytes + rgbBytes(canvasW, canvasH));
    }

    /** Skips data sub-blocks starting at {@code p} (each a length byte then data, ended by a 0 length). */
    private static long skipSubBlocks(byte[] b, long p) {
        while (p < b.length) {
            int n = u8(b, p);
            p += 1 + n;
            if (n == 0) break;
        }
        return p;
    }

    // ---------------------------------------------------------------------------------------------------------
    // BMP: file header, DIB header, palette and, for uncompressed files, the amount of pixel data

    private static Facts bmp(byte[] b, String name, long maxPixels) {
        Format f = Format.BMP;
        if (b.length < 14 + 16) {
            throw truncated(name, f, "the file ends inside its headers");
        }
        long dataOffset = u32le(b, 10);
        long headerSize = u32le(b, 14);
        long width;
        long height;
        int bits;
        long compression = 0;
        long colours = 0;
        if (headerSize == 12) { // OS/2 BITMAPCOREHEADER: 16-bit sizes
            width = u16le(b, 18);
            height = u16le(b, 20);
            bits = u16le(b, 24);
        } else if (headerSize == 16 || headerSize == 40 || headerSize == 52 || headerSize == 56
                || headerSize == 64 || headerSize == 108 || headerSize == 124) {
            if (b.length < 14 + Math.min(headerSize, 40)) {
                throw truncated(name, f, "the file ends inside its " + headerSize + "-byte header");
            }
            width = (int) u32le(b, 18); // signed
            height = (int) u32le(b, 22); // signed: negative means rows stored top-down
            bits = u16le(b, 28);
            if (headerSize >= 40) {
                compression = u32le(b, 30);
                colours = u32le(b, 46);
            }
        } else {
            throw new ImageDecodeException(name, "unsupported BMP header type (" + headerSize + " bytes)");
        }
        if (height == Integer.MIN_VALUE) {
            throw corrupt(name, f, "the header declares height " + height);
        }
        height = Math.abs(height);
        if (width < 0) {
            throw corrupt(name, f, "the header declares width " + width);
        }
        ImageDecoder.checkPixels(name, "BMP image", width, height, maxPixels);
        if (bits != 1 && bits != 2 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) {
            throw new ImageDecodeException(name, "unsupported BMP pixel depth (" + bits + " bits per pixel)");
        }
        if (compression == 4 || compression == 5) {
            throw new ImageDecodeException(name, "BMP with embedded " + (compression == 4 ? "JPEG" : "PNG")
                    + " data is not supported");
        }
        if (compression > 6 || (compression == 1 && bits != 8) || (compression == 2 && bits != 4)
                || ((compression == 3 || compression == 6) && bits != 16 && bits != 24 && bits != 32)) {
            throw new ImageDecodeException(name, "unsupported BMP compression (" + compression + ") for "
                    + bits + " bits per pixel");
        }
        if (bits <= 8 && colours > 65536) {
            throw new ImageDecodeException(name, "unsupported BMP palette size (" + colours + " colours)");
        }
        if (dataOffset >= b.length) {
            throw truncated(name, f, "the pixel data should start at byte " + dataOffset + " but the file has only "
                    + b.length + " bytes");
        }
        if (compression == 0 || compression == 3 || compression == 6) {
            long stride = ceilDiv(width * bits, 32) * 4;
            long needed = stride * height;
            if (dataOffset + needed > b.length) {
                throw truncated(name, f, width + "x" + height + " pixels need " + needed + " bytes of pixel data, "
                        + "the file has " + (b.length - dataOffset));
            }
        }
        // The reader's destination (one byte per pixel up to 8 bits, else 2, 3 or 4) plus the RGB result.
        long destination = width * height * Math.max(1, ceilDiv(bits, 8));
        return new Facts(width, height, destination + rgbBytes(width, height));
    }

    // ---------------------------------------------------------------------------------------------------------
    // TIFF: IFD0's sizes, samples, bits, strips and tiles

    private static final int MAX_SAMPLES_PER_PIXEL = 16;

    private static Facts tiff(byte[] b, String name, long maxPixels) {
        Tiff t = new Tiff(b, name);
        long width = t.integer(256, -1);
        long height = t.integer(257, -1);
        if (width < 0 || height < 0) {
            throw corrupt(name, Format.TIFF, "the first image directory lacks ImageWidth or ImageLength");
        }
        ImageDecoder.checkPixels(name, "TIFF image", width, height, maxPixels);
        long samples = t.integer(277, 1);
        if (samples < 1 || samples > MAX_SAMPLES_PER_PIXEL) {
            throw corrupt(name, Format.TIFF, "SamplesPerPixel is " + samples + " (1 to " + MAX_SAMPLES_PER_PIXEL
                    + " are supported)");
        }
        long[] bitsPerSample = t.integers(258);
        long bits = 1;
        if (bitsPerSample != null) {
            if (bitsPerSample.length == 0) {
                throw corrupt(name, Format.TIFF, "BitsPerSample has no value");
            }
            bits = 0;
            for (long v : bitsPerSample) {
                if (v < 1 || v > 64) {
                    throw corrupt(name, Format.TIFF, "BitsPerSample is " + v + " (1 to 64 are valid)");
                }
                bits = Math.max(bits, v);
            }
        }
        long planar = t.integer(284, 1);
        if (planar != 1 && planar != 2) {
            throw corrupt(name, Format.TIFF, "PlanarConfiguration is " + planar + " (1 or 2 are valid)");
        }
        long compression = t.integer(259, 1);
        long rowBits = width * samples * bits;
        long bytesPerSample = ceilDiv(bits, 8);
        long planes = planar == 2 ? samples : 1;
        long chunkBytes; // the largest strip or tile a decoder holds at once, decompressed
        if (t.has(322) || t.has(323)) {
            long tileW = t.integer(322, 0);
            long tileH = t.integer(323, 0);
            if (tileW < 1 || tileH < 1) {
                throw corrupt(name, Format.TIFF, "the tile size is " + tileW + "x" + tileH);
            }
            ImageDecoder.checkPixels(name, "TIFF tile", tileW, tileH, maxPixels);
            long expected = ceilDiv(width, tileW) * ceilDiv(height, tileH) * planes;
            t.checkChunks(324, 325, expected, "tiles", "TileOffsets", "TileByteCounts");
            chunkBytes = tileW * tileH * (planar == 2 ? 1 : samples) * bytesPerSample;
        } else {
            long rowsPerStrip = Math.min(t.integer(278, 0xFFFFFFFFL), height);
            if (rowsPerStrip < 1) {
                throw corrupt(name, Format.TIFF, "RowsPerStrip is 0");
            }
            long expected = ceilDiv(height, rowsPerStrip) * planes;
            // Old-style JPEG-in-TIFF may point at its JPEG stream (JPEGInterchangeFormat) instead of strips.
            boolean oldJpegWithoutStrips = compression == 6 && !t.has(273);
            if (!oldJpegWithoutStrips) {
                t.checkChunks(273, 279, expected, "strips", "StripOffsets", "StripByteCounts");
            }
            chunkBytes = rowsPerStrip * ceilDiv(rowBits / planes, 8);
            long[] counts = t.integers(279);
            if (compression == 1 && counts != null) {
                long stored = 0;
                for (int i = 0; i < expected; i++) stored += counts[i];
                long needed = height * ceilDiv(rowBits / planes, 8) * planes;
                if (stored < needed) {
                    throw truncated(name, Format.TIFF, "the uncompressed strips hold " + stored + " bytes, "
                            + width + "x" + height + " pixels need " + needed);
                }
            }
        }
        // The decoder's destination, one strip or tile at a time, and the RGB result.
        long destination = width * height * samples * bytesPerSample;
        return new Facts(width, height, destination + chunkBytes + rgbBytes(width, height));
    }

    /** IFD0 of a classic TIFF file, entries looked up by tag. */
    private static final class Tiff {
        private final byte[] b;
        private final String name;
        private final boolean little;
        private final long ifd;
        private final int entries;

        Tiff(byte[] b, String name) {
            this.b = b;
            this.name = name;
            if (b.length < 8) {
                throw truncated(name, Format.TIFF, "the file ends inside its 8-byte header");
            }
            little = b[0] == 'I';
            ifd = u32(4);
            if (ifd < 8 || ifd + 2 > b.length) {
                throw truncated(name, Format.TIFF, "the first image directory should start at byte " + ifd
                        + " but the file has " + b.length + " bytes");
            }
            entries = u16((int) ifd);
            if (ifd + 2 + 12L * entries > b.length) {
                throw truncated(name, Format.TIFF, "the first image directory's " + entries
                        + " entries run past the end of the file");
            }
        }

        private int u16(long p) {
            return little ? u16le(b, p) : u16be(b, p);
        }

        private long u32(long p) {
            return little ? u32le(b, p) : u32be(b, p);
        }

        private long entry(int tag) {
            for (int i = 0; i < entries; i++) {
                long e = ifd + 2 + 12L * i;
                if (u16(e) == tag) return e;
            }
            return -1;
        }

        boolean has(int tag) {
            return entry(tag) >= 0;
        }

        /** The tag's integer values (BYTE, SHORT, LONG), null when absent; checked to lie inside the file. */
        long[] integers(int tag) {
            long e = entry(tag);
            if (e < 0) return null;
            int type = u16(e + 2);
            long count = u32(e + 4);
            int size = switch (type) {
                case 1, 6 -> 1; // BYTE, SBYTE
                case 3, 8 -> 2; // SHORT, SSHORT
                case 4, 9, 13 -> 4; // LONG, SLONG, IFD
                default -> 0;
            };
            boolean signed = type == 6 || type == 8 || type == 9;
            if (size == 0) {
                throw corrupt(name, Format.TIFF, "tag " + tag + " has type " + type + ", not an integer type");
            }
            long total = count * size;
            long at = total <= 4 ? e + 8 : u32(e + 8);
            if (at + total > b.length) {
                throw truncated(name, Format.TIFF, "the " + count + " values of tag " + tag
                        + " lie past the end of the file");
            }
            long[] values = new long[(int) count];
            for (int i = 0; i < count; i++) {
                long p = at + (long) i * size;
                values[i] = switch (size) {
                    case 1 -> signed ? (byte) u8(b, p) : u8(b, p);
                    case 2 -> signed ? (short) u16(p) : u16(p);
                    default -> signed ? (int) u32(p) : u32(p);
                };
                if (values[i] < 0) {
                    throw corrupt(name, Format.TIFF, "tag " + tag + " has the negative value " + values[i]);
                }
            }
            return values;
        }

        long integer(int tag, long absent) {
            long[] v = integers(tag);
            if (v == null) return absent;
            if (v.length == 0) {
                throw corrupt(name, Format.TIFF, "tag " + tag + " has no value");
            }
            return v[0];
        }

        /**
         * Strip or tile offsets and byte counts: as many as the image needs (libtiff fails on the missing ones),
         * each one's data inside the file.
         */
        void checkChunks(int offsetsTag, int countsTag, long expected, String what, String offsetsName,
                String countsName) {
            long[] offsets = integers(offsetsTag);
            if (offsets == null) {
                throw corrupt(name, Format.TIFF, "the image has no " + offsetsName);
            }
            if (offsets.length < expected) {
                throw corrupt(name, Format.TIFF, offsetsName + " lists " + offsets.length + " " + what
                        + " but the image size needs " + expected);
            }
            long[] counts = integers(countsTag);
            if (counts == null) return; // libtiff estimates missing byte counts; so do the decoders
            if (counts.length < expected) {
                throw corrupt(name, Format.TIFF, countsName + " lists " + counts.length + " " + what
                        + " but the image size needs " + expected);
            }
            for (int i = 0; i < expected; i++) {
                if (offsets[i] + counts[i] > b.length) {
                    throw truncated(name, Format.TIFF, what.substring(0, what.length() - 1) + " " + i + " ("
                            + counts[i] + " bytes at byte " + offsets[i] + ") lies past the end of the file");
                }
            }
        }
    }
}
