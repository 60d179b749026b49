"""The out-of-palette check: blobs of new-background colour that no reference has.

A look's *palette* is a k-means quantisation of its references' colours (``palette``,
stored with the style statistics as linear RGB). A background pixel is explained by a
palette colour ``c`` when it is ``c`` under some light level ``k`` in
[``MIN_LIGHT``, ``MAX_LIGHT``] (a new background is the look times the source backdrop's
light, so shadowed texture is still on palette); its distance is the CIE76 Delta-E
between the pixel and the best-lit colour, minimised over the palette. Pixels farther
than ``max_de`` form candidate specks; after a 3x3 opening (which drops the one-pixel
blends along a synthesis seam), every connected blob of at least ``min_blob`` of the
measured frame counts.

Measured at ``PALETTE_SIDE`` px on the long side, on pixels at least ``margin`` px (at
that size) outside the product, so the product's own colours spread into the soft edge
do not count. Images are uint8 RGB ``(H, W, 3)``; ``alpha`` is the product matte.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

PALETTE_SIDE = 256
PALETTE_SIZE = 48
MIN_LIGHT, MAX_LIGHT = 0.3, 1.1


def _to_linear(rgb01: np.ndarray) -> np.ndarray:
    return np.where(rgb01 <= 0.04045, rgb01 / 12.92, ((rgb01 + 0.055) / 1.055) ** 2.4)


def _from_linear(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def _lab(rgb01: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], any leading shape ``(..., 3)`` -> CIE Lab."""
    flat = rgb01.reshape(-1, 1, 3).astype(np.float32)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(rgb01.shape)


def _small(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    k = min(1.0, side / max(h, w))
    if k >= 1:
        return img
    size = (max(int(round(w * k)), 1), max(int(round(h * k)), 1))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def palette(refs: Sequence[np.ndarray], size: int = PALETTE_SIZE, seed: int = 0) -> np.ndarray:
    """The references' colours quantised to ``size`` centres (k-means in Lab), returned
    as linear RGB ``(size, 3)`` float32."""
    pix = np.concatenate([_small(r, PALETTE_SIDE).reshape(-1, 3) for r in refs])
    rng = np.random.default_rng(seed)
    if len(pix) > 40000:
        pix = pix[rng.choice(len(pix), 40000, replace=False)]
    lab = _lab(pix.astype(np.float32) / 255.0).astype(np.float32)
    k = min(size, len(np.unique(pix, axis=0)))
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, _, centres = cv2.kmeans(lab, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    rgb = cv2.cvtColor(centres.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    return _to_linear(np.clip(rgb, 0, 1)).astype(np.float32)


def palette_distance(
    rgb: np.ndarray, pal_linear: np.ndarray, exact_above: float = 0.0
) -> np.ndarray:
    """Per pixel of ``rgb`` ``(..., 3)`` uint8: the Delta-E to the nearest palette colour
    under its best light level. Float32, shape ``rgb.shape[:-1]``. Pixels within
    ``exact_above`` of a palette colour at full light keep that (upper-bound) distance:
    a caller that only asks "farther than T?" passes T and skips most of the work."""
    flat = rgb.reshape(-1, 3)
    c = pal_linear.astype(np.float32)  # (K, 3)
    # First at full light (k = 1): most pixels are near a palette colour as they are.
    lab_p = _lab(flat.astype(np.float32) / 255.0)  # (N, 3)
    lab_c = _lab(_from_linear(c))  # (K, 3)
    # |p - c|^2 = |p|^2 + |c|^2 - 2 p.c: a (N, K) matrix product, not an (N, K, 3) array.
    sq = (lab_p * lab_p).sum(1)[:, None] + (lab_c * lab_c).sum(1)[None] - 2.0 * (lab_p @ lab_c.T)
    d = np.sqrt(np.maximum(sq.min(1), 0.0))  # (N,)
    # The rest (shadowed texture, or real outliers) under the best light level.
    rest = np.flatnonzero(d > exact_above)
    if rest.size:
        p = _to_linear(flat[rest].astype(np.float32) / 255.0)  # (M, 3)
        k = np.clip((p @ c.T) / np.maximum((c * c).sum(1), 1e-6), MIN_LIGHT, MAX_LIGHT)
        lit = k[..., None] * c[None]  # (M, K, 3)
        dl = np.linalg.norm(_lab(_from_linear(lit)) - lab_p[rest][:, None], axis=2).min(1)
        d[rest] = np.minimum(d[rest], dl)
    return d.reshape(rgb.shape[:-1]).astype(np.float32)


def out_of_palette(
    output: np.ndarray,
    alpha: np.ndarray,
    pal_linear: np.ndarray,
    max_de: float = 30.0,
    min_blob: float = 2e-4,
    margin: int = 3,
) -> dict[str, float]:
    """``palette_blobs`` (how many off-palette blobs the new background has),
    ``palette_blob_frac`` (the largest one's share of the frame) and
    ``palette_off_frac`` (the share of background pixels off the palette)."""
    out = _small(output, PALETTE_SIDE)
    a = cv2.resize(alpha.astype(np.float32), (out.shape[1], out.shape[0]))
    product = (a >= 0.05).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    background = cv2.dilate(product, k) == 0
    if not background.any():
        return {"palette_blobs": 0.0, "palette_blob_frac": 0.0, "palette_off_frac": 0.0}
    far = (palette_distance(out, pal_linear, max_de) > max_de) & background
    opened = cv2.morphologyEx(far.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, _, st, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    areas = st[1:, cv2.CC_STAT_AREA] / float(out.shape[0] * out.shape[1])
    blobs = areas[areas >= min_blob]
    return {
        "palette_blobs": float(blobs.size),
        "palette_blob_frac": float(blobs.max()) if blobs.size else 0.0,
        "palette_off_frac": float(far.sum() / background.sum()),
    }
