"""The bad-input corpus of the nightly job, generated in memory: files that must work and
files that must end as a ``failed`` row with a clear error. Keys include spaces and
non-ASCII characters on purpose."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from stylecore.synth.products import ShotSpec, render_shot


def sample_photo(w=96, h=72, seed=0) -> np.ndarray:
    return render_shot(ShotSpec("mug", w, h, "white"), np.random.default_rng(seed)).image


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif_jpeg(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(Image.fromarray(rgb), "JPEG", quality=90, exif=exif.tobytes())


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb_png(w=30000, h=30000) -> bytes:
    """A valid PNG header declaring w x h pixels, with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)


def good_files() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """name -> (bytes, expected (height, width) after decoding, EXIF applied)."""
    rgb = sample_photo()  # 72 x 96 (h x w)
    im = Image.fromarray(rgb)
    gray16 = (rgb.mean(axis=2).astype(np.uint16) * 257).astype(np.uint16)
    pal = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    pal.info["transparency"] = 0
    frames = [Image.fromarray(sample_photo(seed=s)) for s in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return {
        "cmyk.jpg": (_save(im.convert("CMYK"), "JPEG", quality=90), (72, 96)),
        "png16.png": (_save(Image.fromarray(gray16), "PNG"), (72, 96)),
        "palette-transparent.png": (_save(pal, "PNG", transparency=0), (72, 96)),
        "exif-3.jpg": (_exif_jpeg(rgb, 3), (72, 96)),
        "exif-6.jpg": (_exif_jpeg(rgb, 6), (96, 72)),
        "exif-8.jpg": (_exif_jpeg(rgb, 8), (96, 72)),
        "animated.gif": (gif.getvalue(), (72, 96)),
        "gray.png": (_save(im.convert("L"), "PNG"), (72, 96)),
        "photo.webp": (_save(im, "WEBP", quality=90), (72, 96)),
        "photo.tiff": (_save(im, "TIFF"), (72, 96)),
        "png-named.jpg": (_save(im, "PNG"), (72, 96)),
        "with space ünïcødé 商品.jpg": (_save(im, "JPEG", quality=90), (72, 96)),
    }


def bad_files() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the DecodeError kind expected)."""
    jpg = _save(Image.fromarray(sample_photo()), "JPEG", quality=90)
    png = bytearray(_save(Image.fromarray(sample_photo()), "PNG"))
    # Flip a byte inside the first IDAT chunk's data: its CRC no longer matches.
    i = png.index(b"IDAT") + 8
    png[i] ^= 0xFF
    return {
        "empty.jpg": (b"", "empty"),
        "truncated.jpg": (jpg[: len(jpg) // 2], "truncated"),
        "text.jpg": (b"this is not an image, it is a text file\n" * 4, "not_an_image"),
        "bad-crc.png": (bytes(png), "corrupt"),
        "bomb.png": (_bomb_png(), "too_large"),
        "one-pixel.png": (_save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), "too_small"),
    }
