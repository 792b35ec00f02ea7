#!/usr/bin/python3
"""Generates the lossless (VP8L) and alpha-plane (ALPH) WebP fixtures of instella-model.

Writes src/test/resources/webp/lossless/<name>.webp (and two 2000x2000 files of a few KB, big_2000_*.webp, for the
time-limit tests), lossless.tsv (Pillow 9.4's pixels as WxH:sha256 of
Image.open(f).convert("RGB").tobytes()) and lossless_hostile.tsv (corrupt variants, rebuilt by the test from the
fixtures, with Pillow's verdict). With --fuzz N DIR it also writes N randomly corrupted files to DIR with
DIR/list.tsv (file, base, verdict, detail) for a longer comparison outside the test suite.

Needs /usr/bin/python3 with Pillow 9.4 (python3-pil, libwebp 1.2.4) and cwebp 1.2.4. Run from the repository root:
    /usr/bin/python3 scripts/webp-fixtures/make_lossless_fixtures.py [--fuzz 3000 /tmp/llfuzz]
"""
import os
import random
import struct
import sys

from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_webp_fixtures import (OUT, chunk, encoded, first_chunk_payload, flat, pattern, photo,  # noqa: E402
                                pillow_verdict, riff, vp8x, with_alpha)

LL = os.path.join(OUT, "lossless")


def palette_image(w, h, colours, seed=5):
    """Blocks and noise drawn from a fixed palette of `colours` entries (color-indexing, pixel bundling)."""
    rnd = random.Random(seed)
    pal = [(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(colours)]
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = pal[((x // 3) + (y // 2) * 3 + (rnd.randrange(4) == 0) * rnd.randrange(colours)) % colours]
    return im


def palette_alpha(w, h, colours):
    im = palette_image(w, h, colours).convert("RGBA")
    px = im.load()
    for y in range(h):
        for x in range(w):
            r, g, b, _ = px[x, y]
            px[x, y] = (r, g, b, 0 if (x + y) % 5 == 0 else 255)
    return im


def gradient(w, h):
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 3 + y) & 255, (x * y) & 255, (255 - x * 2) & 255)
    return im


def repeated_tile(w, h, tile=13, seed=9):
    """Noise tile repeated: long backward references at many distances."""
    rnd = random.Random(seed)
    t = [(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(tile * tile)]
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = t[(y % tile) * tile + (x % tile)]
    return im


def alpha_shapes(im):
    """RGBA with few alpha levels in shapes (alpha plane that compresses as a palette)."""
    w, h = im.size
    a = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(a)
    d.ellipse((2, 2, w // 2, h // 2), fill=0)
    d.rectangle((w // 2, h // 2, w - 3, h - 2), fill=128)
    out = im.convert("RGBA")
    out.putalpha(a)
    return out


def cases():
    """(name, source image, cwebp args, description)."""
    p = photo(41, 29, seed=11)
    out = []
    for z in range(10):
        out.append(("ll_z%d" % z, p, ["-lossless", "-z", str(z)], "photo 41x29, cwebp -lossless -z %d" % z))
    out += [
        ("ll_near20", p, ["-near_lossless", "20"], "near-lossless 20 (pre-quantised, still VP8L)"),
        ("ll_near60", p, ["-near_lossless", "60"], "near-lossless 60"),
        ("ll_alpha", with_alpha(p), ["-lossless"], "RGBA lossless (transparent RGB may be altered by cwebp)"),
        ("ll_alpha_exact", with_alpha(p), ["-lossless", "-exact"], "RGBA lossless -exact"),
        ("ll_photo_128x96_m6", photo(128, 96, seed=4), ["-lossless", "-m", "6", "-q", "100"],
         "larger photo: meta prefix codes, color cache"),
        ("ll_pattern", pattern(67, 45), ["-lossless"], "stripes, checkerboard, bars"),
        ("ll_flat", flat(60, 40), ["-lossless"], "flat areas: single-symbol prefix codes"),
        ("ll_gradient", gradient(50, 30), ["-lossless", "-z", "9"], "gradients: predictor, cross-color"),
        ("ll_tile", repeated_tile(90, 40), ["-lossless"], "repeated noise tile: backward references"),
        ("ll_1x1", p.crop((0, 0, 1, 1)), ["-lossless"], "1x1"),
        ("ll_1x17", p.crop((5, 0, 6, 17)), ["-lossless"], "1x17"),
        ("ll_17x1", p.crop((0, 5, 17, 6)), ["-lossless"], "17x1"),
        ("ll_3x2", p.crop((7, 7, 10, 9)), ["-lossless"], "3x2"),
        ("ll_65x3", photo(65, 3, seed=2), ["-lossless"], "65x3"),
    ]
    for colours, size in ((2, (37, 19)), (3, (31, 9)), (4, (33, 7)), (11, (29, 17)), (16, (35, 21)),
                          (17, (19, 13)), (256, (64, 40))):
        out.append(("ll_pal%d" % colours, palette_image(size[0], size[1], colours), ["-lossless"],
                    "%d colours, %dx%d: color-indexing%s" % (colours, size[0], size[1],
                                                             " with pixel bundling" if colours <= 16 else "")))
    out.append(("ll_pal4_alpha", palette_alpha(27, 11, 4), ["-lossless", "-exact"], "4 RGBA colours, bundled"))
    out.append(("ll_pal2_z9", palette_image(45, 23, 2, seed=8), ["-lossless", "-z", "9"], "2 colours, -z 9"))
    # Lossy images with an alpha plane: ALPH compressed with VP8L (method 1, default) or raw, with each filter.
    ap = with_alpha(photo(45, 31, seed=6))
    for filt in ("none", "fast", "best"):
        out.append(("alph_filter_%s" % filt, ap, ["-q", "60", "-alpha_filter", filt],
                    "lossy + VP8L alpha, -alpha_filter %s" % filt))
    out.append(("alph_q40", ap, ["-q", "60", "-alpha_q", "40"], "lossy + alpha -alpha_q 40 (pre-processed levels)"))
    out.append(("alph_q5", ap, ["-q", "60", "-alpha_q", "5"], "lossy + alpha -alpha_q 5"))
    out.append(("alph_raw_grad", ap, ["-q", "60", "-alpha_method", "0", "-alpha_filter", "best"],
                "lossy + uncompressed filtered alpha"))
    out.append(("alph_shapes", alpha_shapes(photo(47, 33, seed=3)), ["-q", "50"],
                "lossy + palette-like alpha (8-bit alpha decoding path)"))
    out.append(("alph_shapes_odd", alpha_shapes(photo(17, 9, seed=12)), ["-q", "80", "-alpha_filter", "fast"],
                "odd size, palette-like alpha, filtered"))
    out.append(("alph_m6", with_alpha(photo(64, 48, seed=1)), ["-q", "75", "-m", "6", "-alpha_filter", "best"],
                "lossy + alpha -m 6"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Corrupt variants, described so the test can rebuild them:
#   mut  <base> <offset> <value>  one byte of the file replaced
#   file <name> 0                 a hand-made VP8L stream (crafted_*), as is
#   cut  <base> <n>               VP8L payload (or, for a lossy base, the ALPH payload) cut to n bytes, chunk and
#                                 RIFF sizes fixed so the container stays valid and the bitstream decoder sees it

def chunks(data):
    pos, out = 12, []
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((tag, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def rebuild_cut(data, n):
    parts = []
    for tag, payload in chunks(data):
        if tag in (b"VP8L", b"ALPH"):
            payload = payload[:n]
        parts.append(chunk(tag, payload))
    return riff(parts)


def mutate_range(data):
    """Byte range of the bitstream worth corrupting (VP8L payload, or ALPH payload)."""
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag in (b"VP8L", b"ALPH"):
            return pos + 8, pos + 8 + size
        pos += 8 + size + (size & 1)
    raise ValueError("no VP8L/ALPH chunk")


class BitWriter:
    """LSB-first bit writer (the VP8L bit order)."""

    def __init__(self):
        self.bits = []

    def put(self, value, n):
        for i in range(n):
            self.bits.append((value >> i) & 1)

    def code(self, codes, symbol):
        """A prefix code word: its first bit is read first."""
        word, length = codes[symbol]
        for i in range(length - 1, -1, -1):
            self.bits.append((word >> i) & 1)

    def data(self):
        out = bytearray((len(self.bits) + 7) // 8)
        for i, b in enumerate(self.bits):
            out[i // 8] |= b << (i % 8)
        return bytes(out)


def canonical(lengths):
    """{symbol: (code word, length)} of the canonical prefix code with these lengths ({symbol: length})."""
    codes, code, prev = {}, 0, 0
    for sym, length in sorted(((s, l) for s, l in lengths.items() if l), key=lambda t: (t[1], t[0])):
        code <<= length - prev
        codes[sym] = (code, length)
        code += 1
        prev = length
    return codes


def vp8l_header(bw, w, h):
    bw.put(0x2F, 8)
    bw.put(w - 1, 14)
    bw.put(h - 1, 14)
    bw.put(0, 1)
    bw.put(0, 3)


def simple_code(bw, symbol):
    bw.put(1, 1)  # simple
    bw.put(0, 1)  # one symbol
    bw.put(1, 1)  # 8-bit symbol
    bw.put(symbol, 8)


CL_LENGTHS = {0: 2, 1: 2, 2: 2, 18: 2}  # code-length code: lengths 0, 1, 2 and "repeat zeros"
CL_ORDER = [17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]


def normal_code(bw, lengths, alphabet, max_symbol=None, repeat_zeros=None):
    """A prefix code sent as code lengths (each 0, 1 or 2), optionally with a trailing "repeat zeros" run."""
    bw.put(0, 1)  # not simple
    bw.put(5 - 4, 4)  # 5 code length codes: 17, 18, 0, 1, 2
    for sym in CL_ORDER[:5]:
        bw.put(CL_LENGTHS.get(sym, 0), 3)
    cl = canonical(CL_LENGTHS)
    if max_symbol is None:
        bw.put(0, 1)
    else:
        bw.put(1, 1)
        bw.put(5, 3)  # 2 + 2 * 5 = 12 bits
        bw.put(max_symbol - 2, 12)
    n = alphabet if repeat_zeros is None else alphabet - repeat_zeros[0]
    if max_symbol is not None:
        n = min(n, max_symbol)  # the lengths after max_symbol are zero without being sent
    for sym in range(n):
        bw.code(cl, lengths.get(sym, 0))
    if repeat_zeros is not None:
        bw.code(cl, 18)
        bw.put(repeat_zeros[1] - 11, 7)


def crafted():
    """Hand-made VP8L streams for the checks cwebp never exercises: {name: file bytes}."""
    out = {}

    def image(name, body, w=2, h=2):
        bw = BitWriter()
        vp8l_header(bw, w, h)
        body(bw)
        out[name] = riff([chunk(b"VP8L", bw.data() + b"\0\0\0\0")])

    def plain_codes(bw, green=0, red=5, blue=9, alpha=255, dist=0):
        for sym in (green, red, blue, alpha, dist):
            simple_code(bw, sym)

    def no_extras(bw):
        bw.put(0, 1)  # no color cache
        bw.put(0, 1)  # no meta prefix codes

    image("crafted_ok", lambda bw: (bw.put(0, 1), no_extras(bw), plain_codes(bw)))
    image("crafted_green_once", lambda bw: (bw.put(1, 1), bw.put(2, 2), bw.put(0, 1), no_extras(bw), plain_codes(bw)))
    image("crafted_green_twice", lambda bw: (bw.put(1, 1), bw.put(2, 2), bw.put(1, 1), bw.put(2, 2), bw.put(0, 1),
                                             no_extras(bw), plain_codes(bw)))
    for bits in (0, 1, 11, 12, 15):
        def cache(bw, bits=bits):
            bw.put(0, 1)
            bw.put(1, 1)
            bw.put(bits, 4)
            bw.put(0, 1)
            plain_codes(bw)
        image("crafted_cache_bits_%d" % bits, cache)

    def green_code(lengths, pixels, alphabet=280, max_symbol=None, repeat_zeros=None, cache_bits=0):
        def body(bw):
            bw.put(0, 1)
            if cache_bits:
                bw.put(1, 1)
                bw.put(cache_bits, 4)
            else:
                bw.put(0, 1)
            bw.put(0, 1)
            normal_code(bw, lengths, alphabet + ((1 << cache_bits) if cache_bits else 0), max_symbol, repeat_zeros)
            for sym in (7, 9, 255, 0):  # red, blue, alpha, distance: single symbols
                simple_code(bw, sym)
            codes = canonical(lengths)
            for sym in pixels:
                bw.code(codes, sym)
        return body

    image("crafted_complete_code", green_code({0: 1, 1: 2, 2: 2}, [0, 1, 2, 0]))
    image("crafted_incomplete_code", green_code({0: 1, 1: 2}, [0, 1, 0, 0]))
    image("crafted_oversubscribed_code", green_code({0: 1, 1: 1, 2: 1}, []))
    image("crafted_max_symbol_ok", green_code({0: 1, 1: 1}, [0, 1, 1, 0], max_symbol=2))
    image("crafted_max_symbol_too_big", green_code({0: 1, 1: 1}, [], max_symbol=281))
    image("crafted_repeat_ok", green_code({0: 1, 1: 1}, [1, 0, 1, 0], repeat_zeros=(20, 20)))
    image("crafted_repeat_past_end", green_code({0: 1, 1: 1}, [], repeat_zeros=(20, 30)))
    # Backward references: symbol 256 = length 1, distance code 1 = one row up (2 pixels for width 2).
    image("crafted_ref_ok", green_code({0: 1, 256: 1}, [0, 0, 256, 0]))
    image("crafted_ref_before_start", green_code({0: 1, 256: 1}, [256, 0, 0, 0]))
    image("crafted_ref_past_end", green_code({0: 1, 257: 1}, [0, 0, 0, 257]))  # length 2 at the last pixel
    # Color cache (1 bit): symbols 280, 281 look up the two cache entries, filled by earlier pixels.
    image("crafted_cache_hits", green_code({0: 2, 3: 2, 280: 2, 281: 2}, [3, 280, 281, 0], cache_bits=1))
    image("crafted_cache_empty", green_code({0: 1, 281: 1}, [281, 0, 281, 0], cache_bits=1))
    # Meta prefix codes: a 1x1 entropy image naming group `used` of `count`; more than 1000 groups are renumbered
    # by libwebp, the unused ones still read and checked (`bad_unused`: one has an empty distance code).
    def groups(count, used, bad_unused=None):
        def body(bw):
            bw.put(0, 1)  # no transform
            bw.put(0, 1)  # no color cache
            bw.put(1, 1)  # meta prefix codes
            bw.put(0, 3)  # precision 2: 2x2 -> 1x1 entropy image
            bw.put(0, 1)  # entropy image: no color cache
            for sym in (used & 0xFF, used >> 8, 0, 0, 0):  # its one pixel: green, red, blue, alpha, distance
                simple_code(bw, sym)
            for g in range(count):
                if g == used:
                    plain_codes(bw, green=77, red=1, blue=2, alpha=255)
                else:
                    plain_codes(bw, green=g & 0xFF, dist=200 if g == bad_unused else 0)
        return body

    image("crafted_groups_900", groups(900, 899))
    image("crafted_groups_1500_mapped", groups(1501, 1500))
    image("crafted_groups_1500_bad_unused", groups(1501, 1500, bad_unused=700))
    image("crafted_groups_900_bad_unused", groups(900, 899, bad_unused=700))
    # A stream that stops inside the pixels (no padding): the end of the data is detected.
    image("crafted_short_pixels", green_code({0: 1, 1: 1}, [1, 0, 1, 0], ), w=40, h=40)
    return out


def hostile(files):
    rnd = random.Random(1234)
    rows = []
    for name, data in sorted(crafted().items()):
        files[name] = data
        with open(os.path.join(LL, name + ".webp"), "wb") as f:
            f.write(data)
        rows.append(("file", name, 0, "") + pillow_verdict(data))
    bases = ["ll_z6", "ll_pal4", "ll_pal16", "ll_alpha", "ll_photo_128x96_m6", "ll_tile", "ll_1x17",
             "alph_filter_best", "alph_shapes", "alph_q40"]
    for base in bases:
        data = files[base]
        lo, hi = mutate_range(data)
        n_mut = 70 if base in ("ll_z6", "alph_shapes", "ll_pal4") else 35
        for _ in range(n_mut):
            # Most corruption lands in the headers (transforms, prefix codes): bias offsets to the start.
            at = lo + int((hi - lo) * rnd.random() ** 2)
            value = rnd.randrange(256)
            if value == data[at]:
                value ^= 0x55
            v = data[:at] + bytes([value]) + data[at + 1:]
            rows.append(("mut", base, at, value) + pillow_verdict(v))
        size = hi - lo
        cuts = sorted(set([0, 1, 2, 5, size - 1, size - 2] + [rnd.randrange(size) for _ in range(12)]))
        for n in cuts:
            if 0 <= n < size:
                rows.append(("cut", base, n, "") + pillow_verdict(rebuild_cut(data, n)))
    return rows


def fuzz(files, count, outdir):
    os.makedirs(outdir, exist_ok=True)
    rnd = random.Random(777)
    names = sorted(files)
    with open(os.path.join(outdir, "list.tsv"), "w") as index:
        for i in range(count):
            base = rnd.choice(names)
            data = bytearray(files[base])
            lo, hi = mutate_range(bytes(data))
            mode = rnd.randrange(4)
            if mode == 0:
                for _ in range(rnd.randrange(1, 4)):
                    data[lo + int((hi - lo) * rnd.random() ** 2)] = rnd.randrange(256)
            elif mode == 1:
                at = rnd.randrange(lo, hi)
                data[at] ^= 1 << rnd.randrange(8)
            elif mode == 2:
                data = bytearray(rebuild_cut(bytes(data), rnd.randrange(hi - lo)))
            else:
                for _ in range(rnd.randrange(1, 8)):
                    data[rnd.randrange(lo, hi)] = rnd.randrange(256)
            name = "l%05d.webp" % i
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
            verdict, detail = pillow_verdict(bytes(data))
            index.write("%s\t%s\t%s\t%s\n" % (name, base, verdict, detail))


def main():
    os.makedirs(LL, exist_ok=True)
    files = {}
    with open(os.path.join(OUT, "lossless.tsv"), "w") as index:
        index.write("# name\tverdict\tdetail\tdescription: lossless/<name>.webp; detail = WxH:sha256 of Pillow 9.4's "
                    "convert('RGB').tobytes()\n")
        for name, src, args, desc in cases():
            data = encoded(src, args)
            files[name] = data
            with open(os.path.join(LL, name + ".webp"), "wb") as f:
                f.write(data)
            verdict, detail = pillow_verdict(data)
            assert verdict == "ok", (name, detail)
            index.write("%s\t%s\t%s\t%s\n" % (name, verdict, detail, desc))
    # Two 2000x2000 pictures that compress to a few KB but take a while to decode (time-limit tests).
    for name, src, args in (("big_2000_lossless", repeated_tile(2000, 2000, tile=37), ["-lossless", "-m", "0"]),
                            ("big_2000_lossy", flat(2000, 2000), ["-q", "50"])):
        with open(os.path.join(LL, name + ".webp"), "wb") as f:
            f.write(encoded(src, args))
    rows = hostile(files)
    with open(os.path.join(OUT, "lossless_hostile.tsv"), "w") as index:
        index.write("# kind\tbase\targ\tvalue\tverdict\tdetail: Pillow 9.4's verdict on a corrupt variant of "
                    "lossless/<base>.webp (see make_lossless_fixtures.py: mut = byte at arg set to value, cut = "
                    "VP8L/ALPH payload cut to arg bytes with consistent sizes)\n")
        for row in rows:
            index.write("\t".join(str(c) for c in row) + "\n")
    print("%d fixtures, %d hostile variants (%d refused by Pillow)" % (
        len(files), len(rows), sum(1 for r in rows if r[4] == "error")))
    if len(sys.argv) == 4 and sys.argv[1] == "--fuzz":
        fuzz(files, int(sys.argv[2]), sys.argv[3])


if __name__ == "__main__":
    main()
