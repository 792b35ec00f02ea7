#!/usr/bin/python3
"""Generates the lossy/lossless WebP decode fixtures of instella-model (src/test/resources/webp).

Every case is encoded from a deterministic synthetic picture (photo-like or patterns) with cwebp (libwebp 1.2.4),
with encode_vp8.c (token partitions, which cwebp cannot set) or assembled by hand (VP8X + EXIF, animation), and
the expected pixels are Pillow 9.4's: Image.open(f).convert("RGB").tobytes(), gzip-compressed.

Needs: /usr/bin/python3 with Pillow 9.4 (python3-pil), cwebp 1.2.4, gcc and the libwebp 1.2.4 headers (pass the
source tree with WEBP_SRC=<libwebp-1.2.4>/src). Run from the repository root:
    WEBP_SRC=/path/to/libwebp-1.2.4/src /usr/bin/python3 scripts/webp-fixtures/make_webp_fixtures.py
"""
import gzip
import os
import random
import struct
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "instella-model", "src", "test", "resources", "webp")


def photo(w, h, seed=7):
    """Photo-like: smooth lighting, blurred blobs, fine texture, a few hard edges."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (int(90 + 120 * y / max(h - 1, 1)), int(140 + 60 * x / max(w - 1, 1)), int(200 - 80 * y / max(h - 1, 1)))
    blobs = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(blobs)
    for _ in range(max(6, w * h // 800)):
        cx, cy, r = rnd.randrange(w), rnd.randrange(h), rnd.randrange(2, max(3, min(w, h) // 3 + 3))
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    blobs = blobs.filter(ImageFilter.GaussianBlur(2.5))
    im = Image.blend(im, blobs, 0.55)
    noise = Image.effect_noise((w, h), 40).convert("RGB")
    im = Image.blend(im, noise, 0.18)
    d = ImageDraw.Draw(im)
    for _ in range(max(2, w * h // 3000)):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        d.line((x0, y0, rnd.randrange(w), rnd.randrange(h)), fill=(rnd.randrange(256), 20, 240), width=rnd.randrange(1, 3))
    if w >= 40 and h >= 20:
        d.rectangle((w // 5, h // 4, w // 5 + w // 6, h // 4 + h // 5), fill=(250, 250, 30))
        d.text((3, h // 2), "Wq3", fill=(0, 0, 0))
    return im


def pattern(w, h):
    """Stripes, checkerboard and saturated colour bars: hard chroma edges on every 4:2:0 phase."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    bars = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (255, 255, 255), (0, 0, 0)]
    for y in range(h):
        for x in range(w):
            if y < h // 3:
                px[x, y] = bars[(x // 3) % len(bars)]
            elif y < 2 * h // 3:
                px[x, y] = (255, 255, 255) if (x + y) % 2 else (10, 40, 200)
            else:
                px[x, y] = (x * 255 // max(w - 1, 1), (x ^ y) & 255, 255 - y * 255 // max(h - 1, 1))
    return im


def flat(w, h):
    """Large flat areas (macroblocks without coefficients: the skip flag) with a few details."""
    im = Image.new("RGB", (w, h), (40, 120, 200))
    d = ImageDraw.Draw(im)
    d.rectangle((w // 2, 0, w - 1, h // 2), fill=(230, 200, 20))
    d.ellipse((5, h - 20, 25, h - 4), fill=(200, 30, 30))
    d.point((w - 3, h - 3), fill=(0, 0, 0))
    return im


def with_alpha(im, seed=3):
    """RGBA: an alpha ramp, a fully transparent corner (RGB kept there with -exact) and an opaque block."""
    w, h = im.size
    a = Image.new("L", (w, h))
    px = a.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = 0 if (x < w // 4 and y < h // 3) else (255 if x > 3 * w // 4 else (x * 7 + y * 3) & 255)
    out = im.convert("RGBA")
    out.putalpha(a)
    return out


def cwebp(src, name, args):
    path = os.path.join(OUT, name + ".webp")
    with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
        src.save(tmp.name)
        subprocess.run(["cwebp", "-quiet"] + args + [tmp.name, "-o", path], check=True)
    return path


def encode_vp8(src, name, q, partitions, segments=4, method=4, fstrength=60, ftype=1, sharpness=0):
    exe = os.path.join(tempfile.gettempdir(), "encode_vp8")
    if not os.path.exists(exe):
        inc = os.environ.get("WEBP_SRC")
        if not inc:
            sys.exit("set WEBP_SRC to the src/ folder of libwebp 1.2.4 (for webp/encode.h)")
        subprocess.run(["gcc", "-O1", "-I" + inc, os.path.join(HERE, "encode_vp8.c"), "-o", exe,
                        "-l:libwebp.so.7"], check=True)
    path = os.path.join(OUT, name + ".webp")
    with tempfile.NamedTemporaryFile(suffix=".rgb") as tmp:
        tmp.write(src.convert("RGB").tobytes())
        tmp.flush()
        w, h = src.size
        subprocess.run([exe, tmp.name, str(w), str(h), str(q), str(partitions), str(segments), str(method),
                        str(fstrength), str(ftype), str(sharpness), path], check=True)
    return path


def chunk(tag, payload):
    return tag + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def riff(chunks):
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def first_chunk_payload(webp_bytes, tag):
    pos = 12
    while pos < len(webp_bytes):
        t, size = webp_bytes[pos:pos + 4], struct.unpack("<I", webp_bytes[pos + 4:pos + 8])[0]
        if t == tag:
            return webp_bytes[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise ValueError("no %r chunk" % tag)


def vp8x(flags, w, h):
    return chunk(b"VP8X", struct.pack("<I", flags) + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3])


def anmf(x, y, w, h, frame_chunks, duration=100):
    head = (struct.pack("<I", x // 2)[:3] + struct.pack("<I", y // 2)[:3] + struct.pack("<I", w - 1)[:3]
            + struct.pack("<I", h - 1)[:3] + struct.pack("<I", duration)[:3] + b"\0")
    return chunk(b"ANMF", head + b"".join(frame_chunks))


def encoded(src, args):
    with tempfile.NamedTemporaryFile(suffix=".webp") as out, tempfile.NamedTemporaryFile(suffix=".png") as tmp:
        src.save(tmp.name)
        subprocess.run(["cwebp", "-quiet"] + args + [tmp.name, "-o", out.name], check=True)
        return open(out.name, "rb").read()


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []  # (name, description)

    def add(name, desc):
        cases.append((name, desc))

    p160 = photo(112, 84)
    p161 = photo(113, 85, seed=8)
    # Quality, filters, segments, chroma conversion.
    for name, src, args, desc in [
        ("photo_q75", p160, [], "photo 112x84, cwebp defaults (q75, strong filter, 4 segments)"),
        ("photo_odd_q90", p161, ["-q", "90"], "photo 113x85 (odd: 4:2:0 edge), q90"),
        ("photo_q5", p160, ["-q", "5"], "q5: coarse quantiser, strong loop filter levels"),
        ("photo_q30_nostrong", p161, ["-q", "30", "-nostrong"], "simple loop filter"),
        ("photo_f60_sharp7", p160, ["-q", "50", "-f", "60", "-sharpness", "7"], "normal filter, sharpness 7"),
        ("photo_f100_nostrong_sharp3", p161, ["-q", "40", "-f", "100", "-sharpness", "3", "-nostrong"], "simple filter, max strength, sharpness 3"),
        ("photo_af", p160, ["-q", "60", "-af"], "auto filter strength"),
        ("photo_f0", p161, ["-q", "70", "-f", "0"], "no loop filter"),
        ("photo_sns0", p160, ["-sns", "0"], "no spatial noise shaping"),
        ("photo_sns100", p161, ["-sns", "100", "-q", "45"], "max spatial noise shaping"),
        ("photo_seg1", p160, ["-segments", "1", "-q", "65"], "1 segment"),
        ("photo_seg2", p161, ["-segments", "2", "-q", "55"], "2 segments"),
        ("photo_seg3", p160, ["-segments", "3", "-q", "35"], "3 segments"),
        ("photo_sharp_yuv", p161, ["-sharp_yuv", "-q", "80"], "sharp RGB->YUV"),
        ("photo_q100_m6", p160, ["-q", "100", "-m", "6"], "q100, method 6 (large coefficients)"),
        ("photo_m0", p161, ["-q", "75", "-m", "0"], "method 0"),
        ("photo_q0", p160, ["-q", "0", "-m", "2"], "q0"),
        ("pattern_q75", pattern(64, 48), [], "colour bars, checkerboard, gradients 64x48"),
        ("flat_skip", flat(90, 70), ["-q", "75", "-m", "2"], "flat areas: macroblock skip flags (method 2)"),
        ("flat_skip_simple", flat(47, 53), ["-q", "40", "-nostrong", "-segments", "1", "-m", "0"], "flat areas, skip flags, simple filter, 1 segment"),
        ("pattern_odd_q20", pattern(67, 45), ["-q", "20", "-nostrong"], "patterns 67x45, q20, simple filter"),
        ("pattern_q95_sharp_yuv", pattern(37, 29), ["-q", "95", "-sharp_yuv"], "patterns 37x29, q95"),
    ]:
        cwebp(src, name, args)
        add(name, desc)
    # Sizes: tiny, thin, odd.
    for w, h, q in [(1, 1, 75), (2, 2, 60), (3, 5, 80), (17, 33, 70), (101, 7, 50), (33, 1, 90), (1, 40, 40),
                    (16, 16, 75), (31, 17, 25), (15, 2, 85), (2, 15, 85), (18, 18, 10)]:
        name = "size_%dx%d" % (w, h)
        cwebp(photo(w, h, seed=w * 100 + h), name, ["-q", str(q)])
        add(name, "photo-like %dx%d, q%d" % (w, h, q))
    # Alpha (VP8X + ALPH + VP8): RGB must be Pillow's whatever the alpha.
    a45 = with_alpha(photo(45, 37, seed=4))
    for name, src, args, desc in [
        ("alpha_q50", a45, ["-alpha_q", "50"], "alpha, lossy alpha quality 50"),
        ("alpha_exact", a45, ["-exact", "-q", "70"], "alpha, -exact (RGB kept under transparent pixels)"),
        ("alpha_raw", with_alpha(pattern(30, 21)), ["-alpha_method", "0", "-q", "85"], "uncompressed alpha"),
        ("alpha_filter_best", with_alpha(photo(64, 30, seed=5)), ["-alpha_filter", "best", "-exact"], "alpha filter best"),
    ]:
        cwebp(src, name, args)
        add(name, desc)
    # Lossless (VP8L, through TwelveMonkeys after the header checks).
    cwebp(photo(33, 21, seed=6), "lossless_rgb", ["-lossless"])
    add("lossless_rgb", "VP8L 33x21")
    cwebp(with_alpha(pattern(24, 19)), "lossless_alpha", ["-lossless", "-exact"])
    add("lossless_alpha", "VP8L with alpha 24x19")
    # Token partitions (cwebp cannot set them).
    for parts, ftype, q in [(1, 1, 75), (2, 0, 50), (3, 1, 30)]:
        name = "partitions_%d" % (1 << parts)
        encode_vp8(photo(64, 120, seed=parts), name, q, parts, ftype=ftype)
        add(name, "%d token partitions, %s filter, q%d, 64x120" % (1 << parts, "strong" if ftype else "simple", q))
    # Extended format with metadata chunks around the image.
    vp8 = first_chunk_payload(encoded(photo(50, 40, seed=9), ["-q", "60"]), b"VP8 ")
    data = riff([vp8x(0x08 | 0x20, 50, 40), chunk(b"ICCP", b"not really a profile"), chunk(b"VP8 ", vp8),
                 chunk(b"EXIF", b"Exif\0\0MM\0*\0\0\0\x08\0\0"), chunk(b"XMP ", b"<x/>")])
    open(os.path.join(OUT, "vp8x_metadata.webp"), "wb").write(data)
    add("vp8x_metadata", "VP8X + ICCP + VP8 + EXIF + XMP")
    # Animation: Pillow shows frame 1 on a transparent-black canvas.
    f1 = first_chunk_payload(encoded(photo(20, 14, seed=10), ["-q", "70"]), b"VP8 ")
    f2 = first_chunk_payload(encoded(photo(40, 30, seed=11), ["-q", "70"]), b"VP8 ")
    data = riff([vp8x(0x02, 40, 30), chunk(b"ANIM", b"\0\0\0\0\0\0"), anmf(4, 6, 20, 14, [chunk(b"VP8 ", f1)]),
                 anmf(0, 0, 40, 30, [chunk(b"VP8 ", f2)])])
    open(os.path.join(OUT, "animated_first_frame.webp"), "wb").write(data)
    add("animated_first_frame", "animation 40x30, first frame 20x14 at (4,6)")
    l1 = first_chunk_payload(encoded(pattern(12, 10), ["-lossless"]), b"VP8L")
    data = riff([vp8x(0x02 | 0x10, 16, 12), chunk(b"ANIM", b"\xff\0\0\0\0\0"), anmf(2, 2, 12, 10, [chunk(b"VP8L", l1)])])
    open(os.path.join(OUT, "animated_lossless.webp"), "wb").write(data)
    add("animated_lossless", "animation 16x12, first frame VP8L 12x10 at (2,2)")

    with open(os.path.join(OUT, "cases.tsv"), "w") as index:
        index.write("# name\twidth\theight\tdescription (expected: name.rgb.gz = Pillow 9.4 convert('RGB').tobytes())\n")
        for name, desc in cases:
            im = Image.open(os.path.join(OUT, name + ".webp"))
            rgb = im.convert("RGB").tobytes()
            with open(os.path.join(OUT, name + ".rgb.gz"), "wb") as f:
                f.write(gzip.compress(rgb, 9, mtime=0))
            index.write("%s\t%d\t%d\t%s\n" % (name, im.size[0], im.size[1], desc))
    print("%d cases in %s" % (len(cases), OUT))
    make_hostile()


def pillow_verdict(data):
    """('ok', sha256 of the RGB bytes) or ('error', Pillow's message)."""
    import hashlib
    import io
    try:
        im = Image.open(io.BytesIO(data))
        rgb = im.convert("RGB").tobytes()
        return "ok", "%dx%d:%s" % (im.size[0], im.size[1], hashlib.sha256(rgb).hexdigest())
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError...
        import re
        message = re.sub(r" at 0x[0-9a-f]+", "", "%s: %s" % (type(e).__name__, e))
        return "error", message.replace("\t", " ").replace("\n", " ")


def first_partition(vp8_payload):
    return (vp8_payload[0] | vp8_payload[1] << 8 | vp8_payload[2] << 16) >> 5


def make_hostile():
    """Malformed variants of three fixtures, each with Pillow's verdict (hostile.tsv)."""
    simple = open(os.path.join(OUT, "size_17x33.webp"), "rb").read()
    alpha = open(os.path.join(OUT, "alpha_q50.webp"), "rb").read()
    lossless = open(os.path.join(OUT, "lossless_rgb.webp"), "rb").read()
    vp8 = first_chunk_payload(simple, b"VP8 ")
    tiny = open(os.path.join(OUT, "size_2x2.webp"), "rb").read()
    parts = first_chunk_payload(open(os.path.join(OUT, "partitions_4.webp"), "rb").read(), b"VP8 ")
    vp8l = first_chunk_payload(lossless, b"VP8L")
    alph = first_chunk_payload(alpha, b"ALPH")
    avp8 = first_chunk_payload(alpha, b"VP8 ")

    def set32(b, at, v):
        return b[:at] + struct.pack("<I", v & 0xFFFFFFFF) + b[at + 4:]

    def patch(b, at, new):
        return b[:at] + new + b[at + len(new):]

    variants = [
        ("canvas_lie_4900", riff([vp8x(0, 4900, 4900), chunk(b"VP8 ", vp8)])),
        ("canvas_lie_small", riff([vp8x(0, 16, 33), chunk(b"VP8 ", vp8)])),
        ("canvas_matches", riff([vp8x(0, 17, 33), chunk(b"VP8 ", vp8)])),
        ("riff_size_too_big", set32(simple, 4, len(simple) - 8 + 100)),
        ("riff_size_cuts_chunk", set32(simple, 4, len(simple) - 8 - 10)),
        ("riff_size_tiny", set32(simple, 4, 4)),
        ("riff_size_huge", set32(simple, 4, 0xFFFFFFF0)),
        ("trailing_garbage", simple + b"garbage after the RIFF data" * 3),
        ("riff_stray_bytes", set32(simple + b"\0\0\0\0", 4, len(simple) - 8 + 4)),
        ("riff_unknown_chunk_after", riff([chunk(b"VP8 ", vp8), chunk(b"ABCD", b"1234")])),
        ("chunk_size_past_end", set32(simple, 16, 0x7FFFFFFF)),
        ("chunk_size_plus_2", set32(simple, 16, len(vp8) + 2)),
        ("chunk_size_max", set32(simple, 16, 0xFFFFFFFF)),
        ("vp8_empty", riff([chunk(b"VP8 ", b"")])),
        ("vp8_zero_width", riff([chunk(b"VP8 ", patch(vp8, 6, b"\0\0"))])),
        ("vp8_zero_height", riff([chunk(b"VP8 ", patch(vp8, 8, b"\0\0"))])),
        ("vp8_bad_start_code", riff([chunk(b"VP8 ", patch(vp8, 3, b"\x9d\x01\x2b"))])),
        ("vp8_interframe", riff([chunk(b"VP8 ", patch(vp8, 0, bytes([vp8[0] | 1])))])),
        ("vp8_invisible", riff([chunk(b"VP8 ", patch(vp8, 0, bytes([vp8[0] & ~0x10])))])),
        ("vp8_profile_7", riff([chunk(b"VP8 ", patch(vp8, 0, bytes([vp8[0] | 0x0e])))])),
        ("vp8_partition0_too_long", riff([chunk(b"VP8 ", patch(vp8, 0, bytes([vp8[0] | 0xe0, 0xff, 0xff])))])),
        ("vp8_scaling_bits", riff([chunk(b"VP8 ", patch(vp8, 7, bytes([vp8[7] | 0xc0])))])),
        ("unknown_first_chunk", riff([chunk(b"ABCD", b"xx"), chunk(b"VP8 ", vp8)])),
        ("vp8x_no_image", riff([vp8x(0x08, 17, 33), chunk(b"EXIF", b"abcd")])),
        ("vp8x_only", riff([vp8x(0, 17, 33)])),
        ("vp8x_reserved_flag", riff([vp8x(0x01, 17, 33), chunk(b"VP8 ", vp8)])),
        ("vp8x_twice", riff([vp8x(0, 17, 33), vp8x(0, 17, 33), chunk(b"VP8 ", vp8)])),
        ("vp8x_short", riff([chunk(b"VP8X", b"\0" * 8), chunk(b"VP8 ", vp8)])),
        ("vp8x_two_images", riff([vp8x(0, 17, 33), chunk(b"VP8 ", vp8), chunk(b"VP8 ", vp8)])),
        ("vp8x_alpha_after_image", riff([vp8x(0x10, 45, 37), chunk(b"VP8 ", avp8), chunk(b"ALPH", alph)])),
        ("vp8x_alpha_after_image_noflag", riff([vp8x(0, 45, 37), chunk(b"VP8 ", avp8), chunk(b"ALPH", alph)])),
        ("vp8x_alpha_noflag", riff([vp8x(0, 45, 37), chunk(b"ALPH", alph), chunk(b"VP8 ", avp8)])),
        ("alpha_reserved_bits", riff([vp8x(0x10, 45, 37), chunk(b"ALPH", bytes([alph[0] | 0xc0]) + alph[1:]), chunk(b"VP8 ", avp8)])),
        ("alpha_method_3", riff([vp8x(0x10, 45, 37), chunk(b"ALPH", bytes([alph[0] | 0x03]) + alph[1:]), chunk(b"VP8 ", avp8)])),
        ("alpha_raw_short", riff([vp8x(0x10, 45, 37), chunk(b"ALPH", b"\0" + b"\xff" * 100), chunk(b"VP8 ", avp8)])),
        ("alpha_raw_full", riff([vp8x(0x10, 45, 37), chunk(b"ALPH", b"\0" + b"\x80" * (45 * 37)), chunk(b"VP8 ", avp8)])),
        ("alpha_empty", riff([vp8x(0x10, 45, 37), chunk(b"ALPH", b""), chunk(b"VP8 ", avp8)])),
        ("alph_only", riff([vp8x(0x10, 45, 37), chunk(b"ALPH", alph)])),
        ("vp8l_with_alph", riff([vp8x(0x10, 33, 21), chunk(b"ALPH", alph), chunk(b"VP8L", vp8l)])),
        ("vp8l_bad_signature", riff([chunk(b"VP8L", b"\x2e" + vp8l[1:])])),
        ("vp8l_version_1", riff([chunk(b"VP8L", vp8l[:4] + bytes([vp8l[4] | 0x20]) + vp8l[5:])])),
        ("vp8l_short", riff([chunk(b"VP8L", vp8l[:4])])),
        ("vp8l_canvas_lie", riff([vp8x(0, 3300, 2100), chunk(b"VP8L", vp8l)])),
        ("vp8l_canvas_matches", riff([vp8x(0, 33, 21), chunk(b"VP8L", vp8l)])),
        ("anim_no_anim_chunk", riff([vp8x(0x02, 17, 33), anmf(0, 0, 17, 33, [chunk(b"VP8 ", vp8)])])),
        ("anim_frame_outside", riff([vp8x(0x02, 17, 33), chunk(b"ANIM", b"\0" * 6), anmf(2, 0, 17, 33, [chunk(b"VP8 ", vp8)])])),
        ("anim_no_frames", riff([vp8x(0x02, 17, 33), chunk(b"ANIM", b"\0" * 6)])),
        ("anim_image_outside_anmf", riff([vp8x(0x02, 17, 33), chunk(b"ANIM", b"\0" * 6), chunk(b"VP8 ", vp8)])),
        ("anim_anmf_too_short", riff([vp8x(0x02, 17, 33), chunk(b"ANIM", b"\0" * 6), chunk(b"ANMF", b"\0" * 10)])),
        ("anim_frame_fits", riff([vp8x(0x02, 20, 40), chunk(b"ANIM", b"\0" * 6), anmf(2, 4, 17, 33, [chunk(b"VP8 ", vp8)])])),
        ("anim_flag_missing", riff([vp8x(0, 17, 33), chunk(b"ANIM", b"\0" * 6), anmf(0, 0, 17, 33, [chunk(b"VP8 ", vp8)])])),
        ("odd_chunk_unpadded", riff([chunk(b"VP8 ", vp8 + b"\0")])[:-1] if len(vp8) % 2 == 0 else None),
        ("riff_size_one_extra", set32(simple + b"\0", 4, len(simple) - 8 + 1)),
        ("partition_size_huge", riff([chunk(b"VP8 ", patch(parts, 10 + first_partition(parts), b"\xff\xff\xff"))])),
        ("partition_size_zero", riff([chunk(b"VP8 ", patch(parts, 10 + first_partition(parts), b"\0\0\0"))])),
        ("partition_sizes_cut", riff([chunk(b"VP8 ", parts[:10 + first_partition(parts) + 4])])),
        # Found by fuzzing: a longer first partition leaves token data whose arithmetic-decoder value exceeds
        # its range; only libwebp's exact 64-bit register arithmetic decodes it as Pillow does.
        ("bool_value_above_range", patch(patch(tiny, 20, b"\xb0"), 50, b"\x10")),
        ("header_only", simple[:20]),
        ("too_short", simple[:15]),
    ]
    # Every truncation of the VP8 payload, chunk and RIFF sizes rewritten to match.
    for cut in range(0, len(vp8)):
        variants.append(("vp8_cut_%d" % cut, riff([chunk(b"VP8 ", vp8[:cut])])))
    # Every truncation of the file as it is (sizes left as they were).
    for cut in range(0, len(alpha), 7):
        variants.append(("file_cut_%d" % cut, alpha[:cut]))
    # Seeded byte changes inside VP8 data (modes, partition sizes, tokens): libwebp decodes most of them to some
    # picture; the pixels must still be libwebp's. Named mut_<fixture>_<offset>_<new byte value>.
    rnd = random.Random(1414)
    for key in ("size_17x33", "photo_q5", "partitions_4", "pattern_odd_q20"):
        original = open(os.path.join(OUT, key + ".webp"), "rb").read()
        for _ in range(40):
            at = rnd.randrange(20, len(original))
            value = rnd.randrange(256)
            variants.append(("mut_%s_%d_%d" % (key, at, value), original[:at] + bytes([value]) + original[at + 1:]))
    with open(os.path.join(OUT, "hostile.tsv"), "w") as index:
        index.write("# name\tverdict\tdetail: Pillow 9.4's verdict on hostile/<name>.webp; "
                    "ok detail = WxH:sha256 of convert('RGB').tobytes()\n")
        os.makedirs(os.path.join(OUT, "hostile"), exist_ok=True)
        for name, data in variants:
            if data is None:
                continue
            verdict, detail = pillow_verdict(data)
            if not name.startswith(("vp8_cut_", "file_cut_", "mut_")):
                open(os.path.join(OUT, "hostile", name + ".webp"), "wb").write(data)
            index.write("%s\t%s\t%s\n" % (name, verdict, detail))


if __name__ == "__main__":
    main()
