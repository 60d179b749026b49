"""Encode and decode image bytes. Arrays are RGB(A) uint8; bytes are what a file holds.

OpenCV does the work (faster than Pillow for JPEG and several times faster for PNG, see
``../shared/MEASURED.md``). Encoding is deterministic: the same array and options always
give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

ImageFormat = Literal["jpg", "png", "webp"]


def encode_image(image: np.ndarray, fmt: ImageFormat = "jpg", quality: int = 90) -> bytes:
    """Encode ``image``: ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, uint8.

    ``quality`` applies to JPEG and WebP (1-100). RGBA is only valid for PNG and WebP.
    """
    if image.dtype != np.uint8:
        raise TypeError(f"encode_image: expected uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4 and fmt == "jpg":
        raise ValueError("encode_image: JPEG has no alpha channel; use fmt='png' or 'webp'")
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    if fmt == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif fmt == "png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    else:
        raise ValueError(f"encode_image: unknown format {fmt!r}; expected jpg, png or webp")
    ok, buf = cv2.imencode("." + fmt, image, params)
    if not ok:
        raise ValueError(f"encode_image: OpenCV could not encode a {image.shape} image as {fmt}")
    return buf.tobytes()


def decode_image(data: bytes, keep_alpha: bool = True) -> np.ndarray:
    """Decode bytes into ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8 (gray becomes RGB).

    16-bit images are scaled to 8 bits. Raises ``ValueError`` naming the problem when the
    bytes are empty or not an image OpenCV can read.
    """
    if not data:
        raise ValueError("decode_image: 0 bytes")
    arr = np.frombuffer(data, np.uint8)
    flag = cv2.IMREAD_UNCHANGED if keep_alpha else cv2.IMREAD_COLOR
    img = cv2.imdecode(arr, flag)
    if img is None:
        raise ValueError(f"decode_image: {len(data)} bytes are not a decodable image")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_mask(data: bytes) -> np.ndarray:
    """Decode a mask image into ``(H, W)`` uint8 (any channel count; the first is used)."""
    if not data:
        raise ValueError("decode_mask: 0 bytes")
    m = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ValueError(f"decode_mask: {len(data)} bytes are not a decodable image")
    return m


class DecodeError(ValueError):
    """Image bytes that cannot become a photo to restyle; ``kind`` is a short machine-readable
    name (``empty``, ``not_an_image``, ``truncated``, ``corrupt``, ``too_large``,
    ``too_small``) and the message says what was found."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DecodeLimits:
    max_pixels: int = 100_000_000  # width x height from the header, checked before decoding
    min_side: int = 16  # the generator's smallest input
    max_side: int = 30_000


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray  # (H, W, 3) RGB or (H, W, 4) RGBA uint8, upright
    format: str  # what the bytes are (PNG, JPEG, ...), whatever the file name said
    mode: str  # the source colour mode (RGB, CMYK, P, I;16, ...)
    frames: int  # > 1 for animations: the first frame is used
    orientation: int  # the EXIF orientation applied (1 = none)
    colour_profile: str = ""  # the embedded ICC profile converted to sRGB ("" = none)


def decode_untrusted(data: bytes, limits: DecodeLimits = DecodeLimits()) -> Decoded:
    """Decode catalogue bytes defensively, whatever their file name claims.

    The format is sniffed from the bytes. Width and height are read from the header and
    checked against ``limits`` before any pixel is decoded (decompression bombs). EXIF
    orientation is applied; an embedded ICC profile other than sRGB is converted to sRGB
    (perceptual intent), so Adobe RGB, Display P3 or CMYK photos keep their colours;
    CMYK, palette (with transparency), gray, 16-bit and gray+alpha modes become RGB or
    RGBA; animations give their first frame. Raises ``DecodeError`` with a ``kind`` and a
    message naming the problem."""
    import io
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise DecodeError("empty", "0 bytes")
    try:
        with warnings.catch_warnings():
            # Our own limit below is the one that counts; Pillow still refuses (raises)
            # at twice its default of ~89 MP.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        head = data[:16]
        raise DecodeError(
            "not_an_image", f"{len(data)} bytes are not an image (they start {head!r})"
        ) from None
    except Image.DecompressionBombError as e:
        raise DecodeError("too_large", f"header declares too many pixels: {e}") from None
    except Exception as e:  # a header Pillow cannot parse
        raise DecodeError("corrupt", f"unreadable header: {e}") from None
    w, h = im.size
    fmt = im.format or "unknown"
    if w * h > limits.max_pixels or max(w, h) > limits.max_side:
        raise DecodeError(
            "too_large",
            f"{fmt} header declares {w}x{h} pixels, over the limit of "
            f"{limits.max_pixels:,} pixels / {limits.max_side} px a side",
        )
    if min(w, h) < limits.min_side:
        raise DecodeError(
            "too_small", f"{fmt} image is {w}x{h} px, under the minimum of {limits.min_side} px"
        )
    frames = int(getattr(im, "n_frames", 1) or 1)
    mode = im.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if frames > 1:
                im.seek(0)
            im.load()
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            im = ImageOps.exif_transpose(im)
            im, profile = _to_srgb(im)
    except OSError as e:
        kind = "truncated" if "truncated" in str(e) else "corrupt"
        raise DecodeError(kind, f"{fmt} data is {kind}: {e}") from None
    except (SyntaxError, ValueError, EOFError) as e:  # e.g. PNG CRC failures
        raise DecodeError("corrupt", f"{fmt} data is corrupt: {e}") from None
    return Decoded(_to_rgb(im), fmt, mode, frames, orientation, profile)


_ICC_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB", "LA": "RGBA"}


def _to_srgb(im):
    """``(image, description)``: the image in sRGB when it carries an ICC profile that is
    not sRGB already, with the profile's description; unchanged with "" otherwise. A
    profile LittleCMS cannot read is ignored (the pixels are taken as sRGB), as browsers
    do."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in _ICC_MODES:
        return im, ""
    import io

    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (ImageCms.getProfileDescription(src) or "").strip() or "unnamed ICC profile"
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im, ""
    if "srgb" in name.lower().replace(" ", ""):
        return im, ""  # already sRGB: no round trip, the bytes stay as they are
    mode = im.mode
    if mode == "LA":  # LittleCMS has no grey+alpha: convert grey, keep the alpha
        alpha = im.getchannel("A")
        im, mode = im.convert("L"), "L"
    else:
        alpha = None
    try:
        out = ImageCms.profileToProfile(
            im, src, ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode=_ICC_MODES[mode],
        )  # fmt: skip
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im, ""
    if alpha is not None:
        out = out.convert("RGBA")
        out.putalpha(alpha)
    return out, f"{name} -> sRGB"


def _to_rgb(im) -> np.ndarray:
    """A Pillow image in any mode as RGB or RGBA uint8."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im)
        a = (a.astype(np.uint32) >> 8) if a.max(initial=0) > 255 else a
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2))
    if mode == "F":
        g = np.clip(np.asarray(im), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in im.info
    )
    im = im.convert("RGBA" if has_alpha else "RGB")
    return np.ascontiguousarray(np.asarray(im))
