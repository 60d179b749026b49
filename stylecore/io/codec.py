"""Encode and decode image bytes. Arrays are RGB(A) uint8; bytes are what a file holds.

OpenCV does the work (faster than Pillow for JPEG and several times faster for PNG, see
``../shared/MEASURED.md``). Encoding is deterministic: the same array and options always
give the same bytes.
"""

from __future__ import annotations

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
